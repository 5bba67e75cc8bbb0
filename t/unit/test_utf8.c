/*
 * Copyright (C) ngx_signal_module authors
 *
 * Unit tests: the incremental UTF-8 validator and close code rules.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "shim.h"
#include "ngx_signal_ws_parse.h"


static uint32_t
validate(const char *s, size_t len)
{
    return ngx_signal_utf8_validate(NGX_SIGNAL_UTF8_ACCEPT, (u_char *) s,
                                    len);
}


#define VALID(s)    assert_int_equal(validate(s, sizeof(s) - 1),             \
                                     NGX_SIGNAL_UTF8_ACCEPT)
#define INVALID(s)  assert_int_equal(validate(s, sizeof(s) - 1),             \
                                     NGX_SIGNAL_UTF8_REJECT)


static void
test_valid(void **state)
{
    VALID("");
    VALID("plain ASCII, with digits 0123 and {\"json\":1}");
    VALID("\xc2\x80");                         /* U+0080 */
    VALID("\xdf\xbf");                         /* U+07FF */
    VALID("\xe0\xa0\x80");                     /* U+0800 */
    VALID("\xe2\x82\xac");                     /* euro sign */
    VALID("\xed\x9f\xbf");                     /* U+D7FF, before surrogates */
    VALID("\xee\x80\x80");                     /* U+E000, after them */
    VALID("\xef\xbf\xbf");                     /* U+FFFF */
    VALID("\xf0\x90\x80\x80");                 /* U+10000 */
    VALID("\xf0\x9f\x98\x80");                 /* emoji */
    VALID("\xf4\x8f\xbf\xbf");                 /* U+10FFFF, the last */
    VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");   /* kosme */
}


static void
test_invalid(void **state)
{
    INVALID("\x80");                           /* stray continuation */
    INVALID("\xbf");
    INVALID("a\x80" "b");
    INVALID("\xc0\xaf");                       /* overlong '/' */
    INVALID("\xc1\xbf");
    INVALID("\xe0\x80\xaf");                   /* overlong, 3 bytes */
    INVALID("\xe0\x9f\xbf");
    INVALID("\xf0\x80\x80\xaf");               /* overlong, 4 bytes */
    INVALID("\xf0\x8f\xbf\xbf");
    INVALID("\xed\xa0\x80");                   /* U+D800 surrogate */
    INVALID("\xed\xbf\xbf");                   /* U+DFFF surrogate */
    INVALID("\xed\xa0\x80\xed\xb0\x80");       /* surrogate pair */
    INVALID("\xf4\x90\x80\x80");               /* U+110000 */
    INVALID("\xf5\x80\x80\x80");
    INVALID("\xfe");
    INVALID("\xff");
    INVALID("\xc2" "a");                       /* missing continuation */
    INVALID("\xe2\x82" "a");
}


static void
test_incomplete(void **state)
{
    /* an unfinished character is neither accepted nor rejected yet */
    assert_int_not_equal(validate("\xe2\x82", 2), NGX_SIGNAL_UTF8_ACCEPT);
    assert_int_not_equal(validate("\xe2\x82", 2), NGX_SIGNAL_UTF8_REJECT);
    assert_int_not_equal(validate("\xf0\x9f", 2), NGX_SIGNAL_UTF8_ACCEPT);
}


static void
test_every_split(void **state)
{
    static const char  text[] = "a\xc3\xa9" "b\xe2\x82\xac" "c"
                                "\xf0\x9f\x98\x80" "d\xed\x9f\xbf";
    size_t    i, j, len;
    uint32_t  st;

    len = sizeof(text) - 1;

    /* any split in two or three pieces gives the same verdict */

    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            st = ngx_signal_utf8_validate(NGX_SIGNAL_UTF8_ACCEPT,
                                          (u_char *) text, i);
            st = ngx_signal_utf8_validate(st, (u_char *) text + i, j - i);
            st = ngx_signal_utf8_validate(st, (u_char *) text + j, len - j);
            assert_int_equal(st, NGX_SIGNAL_UTF8_ACCEPT);
        }
    }

    /* byte at a time, with a surrogate at the end: rejected on its 2nd */
    st = NGX_SIGNAL_UTF8_ACCEPT;
    st = ngx_signal_utf8_validate(st, (u_char *) "\xed", 1);
    assert_int_not_equal(st, NGX_SIGNAL_UTF8_REJECT);
    st = ngx_signal_utf8_validate(st, (u_char *) "\xa0", 1);
    assert_int_equal(st, NGX_SIGNAL_UTF8_REJECT);
}


static void
test_close_codes(void **state)
{
    ngx_uint_t  code;

    for (code = 0; code < 6000; code++) {
        ngx_uint_t  valid = (code >= 1000 && code <= 1003)
                            || (code >= 1007 && code <= 1014)
                            || (code >= 3000 && code <= 4999);

        assert_int_equal(ngx_signal_ws_close_code_valid(code), valid);
    }

    assert_false(ngx_signal_ws_close_code_valid(1005));
    assert_false(ngx_signal_ws_close_code_valid(1006));
    assert_false(ngx_signal_ws_close_code_valid(1015));
    assert_false(ngx_signal_ws_close_code_valid(65535));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_close_codes),
    };

    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
