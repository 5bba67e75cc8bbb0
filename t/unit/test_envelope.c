/*
 * Copyright (C) ngx_signal_module authors
 *
 * Unit tests: the notify envelope parser and the name rules.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "shim.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_json.h"


typedef struct {
    ngx_pool_t             *pool;
    ngx_signal_envelope_t   env;
    ngx_int_t               rc;
    char                    error[300];
} parsed_t;


static void
parse(parsed_t *p, const char *body)
{
    memset(p, 0, sizeof(parsed_t));

    p->pool = shim_pool_create();
    p->env.max_events = 5;
    p->env.max_rooms = 3;
    p->env.max_name_len = 16;

    p->rc = ngx_signal_envelope_parse(&p->env, p->pool, (u_char *) body,
                                      strlen(body));

    memcpy(p->error, p->env.error, p->env.error_len);
    p->error[p->env.error_len] = '\0';
}


static void
done(parsed_t *p)
{
    shim_pool_destroy(p->pool);
}


static ngx_signal_event_t *
event(parsed_t *p, ngx_uint_t i)
{
    assert_true(i < p->env.events->nelts);
    return (ngx_signal_event_t *) p->env.events->elts + i;
}


#define STR_EQ(s, lit)                                                       \
    do {                                                                     \
        assert_int_equal((s).len, sizeof(lit) - 1);                          \
        assert_memory_equal((s).data, lit, sizeof(lit) - 1);                 \
    } while (0)


static void
expect_error(const char *body, const char *fragment, ngx_uint_t json)
{
    parsed_t  p;

    parse(&p, body);

    if (p.rc != NGX_ERROR || strstr(p.error, fragment) == NULL
        || p.env.invalid_json != json)
    {
        print_error("body %s\n  error \"%s\" (invalid_json %u), "
                    "wanted \"%s\" (%u)\n", body, p.error,
                    (unsigned) p.env.invalid_json, fragment,
                    (unsigned) json);
        done(&p);
        fail();
    }

    done(&p);
}


static void
test_single(void **state)
{
    parsed_t             p;
    ngx_signal_event_t  *ev;

    parse(&p, "{\"room\":\"startup:42\",\"event\":\"signal:assigned\","
              "\"data\":{\"a\": [1, 2.5e3, \"x\\\"y\\u00e9\", true, null]}}");

    assert_int_equal(p.rc, NGX_OK);
    assert_int_equal(p.env.events->nelts, 1);

    ev = event(&p, 0);
    assert_int_equal(ev->nrooms, 1);
    STR_EQ(ev->rooms[0], "startup:42");
    STR_EQ(ev->event, "signal:assigned");
    STR_EQ(ev->data, "{\"a\": [1, 2.5e3, \"x\\\"y\\u00e9\", true, null]}");

    done(&p);
}


static void
test_data_forms(void **state)
{
    parsed_t  p;

    parse(&p, "{\"data\" :  -12.5e-1 , \"room\":\"r\",\"event\":\"e\"}");
    assert_int_equal(p.rc, NGX_OK);
    STR_EQ(event(&p, 0)->data, "-12.5e-1");
    done(&p);

    parse(&p, "{\"room\":\"r\",\"event\":\"e\",\"data\":\"s\\n\"}");
    assert_int_equal(p.rc, NGX_OK);
    STR_EQ(event(&p, 0)->data, "\"s\\n\"");
    done(&p);

    parse(&p, "{\"room\":\"r\",\"event\":\"e\",\"data\":[[],{},[{}]]}");
    assert_int_equal(p.rc, NGX_OK);
    STR_EQ(event(&p, 0)->data, "[[],{},[{}]]");
    done(&p);

    parse(&p, "{\"room\":\"r\",\"event\":\"e\",\"data\":false}");
    STR_EQ(event(&p, 0)->data, "false");
    done(&p);

    /* absent data is null; keys inside data are not envelope fields */
    parse(&p, "{\"room\":\"r\",\"event\":\"e\"}");
    STR_EQ(event(&p, 0)->data, "null");
    done(&p);

    parse(&p, "{\"room\":\"r\",\"event\":\"e\",\"data\":{\"room\":1,"
              "\"events\":[],\"x\":{\"event\":2}}}");
    assert_int_equal(p.rc, NGX_OK);
    STR_EQ(event(&p, 0)->data,
           "{\"room\":1,\"events\":[],\"x\":{\"event\":2}}");
    done(&p);
}


static void
test_rooms_and_batch(void **state)
{
    parsed_t             p;
    ngx_signal_event_t  *ev;

    parse(&p, "{\"rooms\":[\"a\",\"b:1\",\"c\"],\"event\":\"e\",\"data\":1}");
    assert_int_equal(p.rc, NGX_OK);
    ev = event(&p, 0);
    assert_int_equal(ev->nrooms, 3);
    STR_EQ(ev->rooms[1], "b:1");
    done(&p);

    parse(&p, "{\"events\":[{\"room\":\"a\",\"event\":\"e1\"},"
              "{\"rooms\":[\"b\",\"c\"],\"event\":\"e2\",\"data\":[1]},"
              "{\"event\":\"e3\",\"data\":{},\"room\":\"d\"}]}");
    assert_int_equal(p.rc, NGX_OK);
    assert_int_equal(p.env.events->nelts, 3);
    STR_EQ(event(&p, 0)->event, "e1");
    STR_EQ(event(&p, 0)->data, "null");
    assert_int_equal(event(&p, 1)->nrooms, 2);
    STR_EQ(event(&p, 1)->data, "[1]");
    STR_EQ(event(&p, 2)->rooms[0], "d");
    STR_EQ(event(&p, 2)->data, "{}");
    done(&p);
}


static void
test_errors(void **state)
{
    /* not JSON, or not an object */
    expect_error("{\"room\":\"a\"", "invalid JSON", 1);
    expect_error("{\"room\":\"a\",\"event\":\"e\"} x", "invalid JSON", 1);
    expect_error("[{\"room\":\"a\",\"event\":\"e\"}]", "JSON object", 1);
    expect_error("\"x\"", "JSON object", 1);
    expect_error("{\"room\":\"a\",\"event\":\"e\",\"data\":\"\xff\"}",
                 "invalid JSON", 1);

    /* fields */
    expect_error("{\"room\":\"a\",\"event\":\"e\",\"evnt\":1}",
                 "unknown field \"evnt\"", 0);
    expect_error("{\"room\":\"a\"}", "event: missing", 0);
    expect_error("{\"event\":\"e\"}", "room: missing", 0);
    expect_error("{\"room\":1,\"event\":\"e\"}", "room: must be a string", 0);
    expect_error("{\"room\":\"a\",\"event\":[]}", "event: must be a string",
                 0);
    expect_error("{\"room\":\"a\",\"room\":\"b\",\"event\":\"e\"}",
                 "room: given twice", 0);
    expect_error("{\"room\":\"a\",\"rooms\":[\"b\"],\"event\":\"e\"}",
                 "not both", 0);
    expect_error("{\"rooms\":[],\"event\":\"e\"}", "rooms: must not be empty",
                 0);
    expect_error("{\"rooms\":\"a\",\"event\":\"e\"}", "rooms: must be an array",
                 0);
    expect_error("{\"rooms\":[\"a\",2],\"event\":\"e\"}",
                 "rooms[1]: must be a string", 0);
    expect_error("{\"rooms\":[\"a\",[\"b\"]],\"event\":\"e\"}",
                 "rooms[1]: must be a string", 0);
    expect_error("{\"rooms\":[\"a\",\"a\"],\"event\":\"e\"}",
                 "rooms[1]: duplicate room", 0);
    expect_error("{\"rooms\":[\"a\",\"b\",\"c\",\"d\"],\"event\":\"e\"}",
                 "more than 3 rooms", 0);

    /* names */
    expect_error("{\"room\":\"a b\",\"event\":\"e\"}", "may only contain", 0);
    expect_error("{\"room\":\"a:\",\"event\":\"e\"}", "must not end with", 0);
    expect_error("{\"room\":\"a:*\",\"event\":\"e\"}", "is a family", 0);
    expect_error("{\"room\":\"\",\"event\":\"e\"}", "is empty", 0);
    expect_error("{\"room\":\"aaaaaaaaaaaaaaaaa\",\"event\":\"e\"}",
                 "longer than", 0);
    expect_error("{\"room\":\"a\",\"event\":\"e\\u00e9\"}", "event: event name",
                 0);

    /* batches: the failing event is named */
    expect_error("{\"events\":{}}", "events: must be an array", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\"},1]}",
                 "events[1].must be an object", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\"},"
                 "{\"room\":\"a\",\"event\":\"e\"},{\"room\":7}]}",
                 "events[2].room: must be a string", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\"},"
                 "{\"rooms\":[\"a\",\"a\"],\"event\":\"e\"}]}",
                 "events[1].rooms[1]: duplicate", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\"}],"
                 "\"room\":\"b\"}", "must not have other fields", 0);
    expect_error("{\"room\":\"b\",\"events\":[{\"room\":\"a\","
                 "\"event\":\"e\"}]}", "must not have other fields", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\","
                 "\"events\":[]}]}", "events[0].unknown field \"events\"", 0);
    expect_error("{\"events\":[]}", "no event", 0);
    expect_error("{\"events\":[{\"room\":\"a\",\"event\":\"e\"},"
                 "{\"room\":\"a\",\"event\":\"e\"},{\"room\":\"a\","
                 "\"event\":\"e\"},{\"room\":\"a\",\"event\":\"e\"},"
                 "{\"room\":\"a\",\"event\":\"e\"},{\"room\":\"a\","
                 "\"event\":\"e\"}]}", "more than 5 events", 0);
}


static void
test_error_utf8_cut(void **state)
{
    parsed_t  p;
    char      body[200];

    /* an unknown field quoted at 32 bytes: not inside a character */
    snprintf(body, sizeof(body), "{\"room\":\"a\",\"event\":\"e\",\"%s\":1}",
             "abcdefghijklmnopqrstuvwxyz01234\xc3\xa9\xc3\xa9");
    parse(&p, body);
    assert_int_equal(p.rc, NGX_ERROR);
    assert_non_null(strstr(p.error, "unknown field \"abcdefghijklmnopqrstuvw"
                                    "xyz01234\" "));
    done(&p);
}


static void
test_names(void **state)
{
    assert_null(ngx_signal_name_room((u_char *) "startup:42", 10, 128, 0));
    assert_null(ngx_signal_name_room((u_char *) "a-Z_0.9@x/y+z=w", 15, 128,
                                      0));
    assert_non_null(ngx_signal_name_room((u_char *) "a:*", 3, 128, 0));
    assert_null(ngx_signal_name_room((u_char *) "a:*", 3, 128, 1));
    assert_null(ngx_signal_name_room((u_char *) "a:b:*", 5, 128, 1));
    assert_non_null(ngx_signal_name_room((u_char *) "*", 1, 128, 1));
    assert_non_null(ngx_signal_name_room((u_char *) ":*", 2, 128, 1));
    assert_non_null(ngx_signal_name_room((u_char *) "a*", 2, 128, 1));
    assert_non_null(ngx_signal_name_room((u_char *) "a:", 2, 128, 1));
    assert_non_null(ngx_signal_name_room((u_char *) "a\"b", 3, 128, 0));
    assert_non_null(ngx_signal_name_room((u_char *) "a\\b", 3, 128, 0));
    assert_non_null(ngx_signal_name_room((u_char *) "", 0, 128, 0));
    assert_non_null(ngx_signal_name_room((u_char *) "abcdefghi", 9, 8, 0));
    assert_null(ngx_signal_name_room((u_char *) "abcdefgh", 8, 8, 0));

    assert_null(ngx_signal_name_event((u_char *) "signal:assigned",
                                            15, 128));
    assert_non_null(ngx_signal_name_event((u_char *) "a b", 3, 128));
    assert_non_null(ngx_signal_name_event((u_char *) "", 0, 128));

    assert_true(ngx_signal_name_is_family((u_char *) "bulk_upload:*", 13));
    assert_false(ngx_signal_name_is_family((u_char *) "bulk_upload", 11));
    assert_false(ngx_signal_name_is_family((u_char *) ":*", 2));
    assert_false(ngx_signal_name_is_family((u_char *) "a*", 2));
}


#define S(text)  (u_char *) text, sizeof(text) - 1


static void
test_json_checks(void **state)
{
    /* a "\u0000" escape, not an escaped backslash followed by u0000 */
    assert_true(ngx_signal_json_has_nul(S("{\"a\":\"x\\u0000\"}")));
    assert_true(ngx_signal_json_has_nul(S("\"\\\\\\u0000\"")));
    assert_false(ngx_signal_json_has_nul(S("\"\\\\u0000\"")));
    assert_false(ngx_signal_json_has_nul(S("{\"a\":\"u0000\"}")));
    assert_false(ngx_signal_json_has_nul(S("\"\\u0001\"")));

    /* one JSON value, nothing around it */
    assert_true(ngx_signal_json_valid(S("{\"a\":[1,2e5,-0.5,null]}")));
    assert_true(ngx_signal_json_valid(S("\"\\u0000\"")));
    assert_true(ngx_signal_json_valid(S("1")));
    assert_false(ngx_signal_json_valid(S("1,\"type\":\"x\"")));
    assert_false(ngx_signal_json_valid(S("nan")));
    assert_false(ngx_signal_json_valid(S("0x10")));
    assert_false(ngx_signal_json_valid(S("{\"a\":1} {}")));
    assert_false(ngx_signal_json_valid(S("\"\xc3\"")));
    assert_false(ngx_signal_json_valid(S("")));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_data_forms),
        cmocka_unit_test(test_rooms_and_batch),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_utf8_cut),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_json_checks),
    };

    return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
