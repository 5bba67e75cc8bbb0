/*
 * Copyright (C) ngx_signal_module authors
 *
 * Unit tests: the RFC 6455 frame reader and frame header writer.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>
#include "shim.h"
#include "ngx_signal_ws_parse.h"


#define MAX_SIZE   1024

typedef struct {
    ngx_uint_t  opcode;
    size_t      len;
    u_char      data[MAX_SIZE + 1];
} got_t;


typedef struct {
    ngx_signal_ws_reader_t  rd;
    got_t                   got[16];
    ngx_uint_t              n;
    ngx_int_t               rc;       /* NGX_AGAIN or NGX_ERROR */
} run_t;


/* a masked client frame with the given first byte and payload */

static size_t
frame(u_char *out, u_char b0, const char *payload, size_t len)
{
    static const u_char  key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    u_char  *p = out;
    size_t   i;

    *p++ = b0;

    if (len < 126) {
        *p++ = 0x80 | (u_char) len;

    } else if (len <= 0xffff) {
        *p++ = 0x80 | 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 0x80 | 127;
        for (i = 0; i < 8; i++) {
            *p++ = (u_char) ((uint64_t) len >> (56 - 8 * i));
        }
    }

    memcpy(p, key, 4);
    p += 4;

    for (i = 0; i < len; i++) {
        *p++ = (u_char) payload[i] ^ key[i % 4];
    }

    return p - out;
}


/* feed input in pieces of `step` bytes, collecting what comes out */

static void
run(run_t *r, u_char *in, size_t len, size_t step, size_t max)
{
    u_char                   *pos, *last, *end;
    ngx_int_t                 rc;
    ngx_signal_ws_message_t   msg;

    memset(r, 0, sizeof(run_t));
    ngx_signal_ws_reader_init(&r->rd, max, NULL);

    end = in + len;
    r->rc = NGX_AGAIN;

    for (pos = in; pos < end; /* void */) {
        last = (size_t) (end - pos) > step ? pos + step : end;

        while (pos < last) {
            rc = ngx_signal_ws_read(&r->rd, &pos, last, &msg);

            if (rc == NGX_ERROR) {
                r->rc = NGX_ERROR;
                ngx_signal_ws_reader_free(&r->rd);
                return;
            }

            if (rc == NGX_OK) {
                assert_true(r->n < 16);
                assert_true(msg.len <= MAX_SIZE);
                r->got[r->n].opcode = msg.opcode;
                r->got[r->n].len = msg.len;
                memcpy(r->got[r->n].data, msg.data, msg.len);
                r->n++;
            }
        }
    }

    ngx_signal_ws_reader_free(&r->rd);
}


static void
expect_error(u_char *in, size_t len, ngx_uint_t code)
{
    size_t  steps[] = { 1, 2, 7, 100000 };
    size_t  i;
    run_t   r;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        run(&r, in, len, steps[i], MAX_SIZE);
        assert_int_equal(r.rc, NGX_ERROR);
        assert_int_equal(r.rd.close_code, code);
        assert_non_null(r.rd.error);
    }
}


static void
test_text_any_split(void **state)
{
    u_char  in[4096];
    size_t  n, step;
    char    big[300];
    run_t   r;

    memset(big, 'x', sizeof(big));

    n = frame(in, 0x81, "hello", 5);
    n += frame(in + n, 0x81, big, sizeof(big));           /* 16-bit length */
    n += frame(in + n, 0x82, "\x00\x01", 2);
    n += frame(in + n, 0x81, "", 0);

    for (step = 1; step <= n; step++) {
        run(&r, in, n, step, MAX_SIZE);

        assert_int_equal(r.rc, NGX_AGAIN);
        assert_int_equal(r.n, 4);
        assert_int_equal(r.got[0].opcode, NGX_SIGNAL_WS_OP_TEXT);
        assert_int_equal(r.got[0].len, 5);
        assert_memory_equal(r.got[0].data, "hello", 5);
        assert_int_equal(r.got[1].len, sizeof(big));
        assert_memory_equal(r.got[1].data, big, sizeof(big));
        assert_int_equal(r.got[2].opcode, NGX_SIGNAL_WS_OP_BINARY);
        assert_memory_equal(r.got[2].data, "\x00\x01", 2);
        assert_int_equal(r.got[3].len, 0);
    }
}


static void
test_64bit_length(void **state)
{
    u_char  *in, *payload;
    size_t   n, len;

    len = 70000;
    payload = malloc(len);
    in = malloc(len + 20);
    memset(payload, 'y', len);

    n = frame(in, 0x82, (char *) payload, len);
    assert_int_equal(in[1], 0x80 | 127);

    /* with a limit that fits, the whole message comes out intact */
    {
        ngx_signal_ws_reader_t   rd;
        ngx_signal_ws_message_t  msg;
        u_char                  *pos = in;

        ngx_signal_ws_reader_init(&rd, len, NULL);
        assert_int_equal(ngx_signal_ws_read(&rd, &pos, in + n, &msg),
                         NGX_OK);
        assert_int_equal(msg.len, len);
        assert_memory_equal(msg.data, payload, len);
        ngx_signal_ws_reader_free(&rd);
    }

    free(in);
    free(payload);
}


static void
test_fragments_with_ping(void **state)
{
    u_char  in[256];
    size_t  n, step;
    run_t   r;

    n = frame(in, 0x01, "{\"ty", 4);                      /* TEXT, !FIN */
    n += frame(in + n, 0x89, "p1", 2);                    /* PING */
    n += frame(in + n, 0x00, "pe\":", 4);                 /* CONT */
    n += frame(in + n, 0x8a, "", 0);                      /* PONG */
    n += frame(in + n, 0x80, "1}", 2);                    /* CONT, FIN */

    for (step = 1; step <= n; step++) {
        run(&r, in, n, step, MAX_SIZE);

        assert_int_equal(r.rc, NGX_AGAIN);
        assert_int_equal(r.n, 3);
        assert_int_equal(r.got[0].opcode, NGX_SIGNAL_WS_OP_PING);
        assert_memory_equal(r.got[0].data, "p1", 2);
        assert_int_equal(r.got[1].opcode, NGX_SIGNAL_WS_OP_PONG);
        assert_int_equal(r.got[2].opcode, NGX_SIGNAL_WS_OP_TEXT);
        assert_int_equal(r.got[2].len, 10);
        assert_memory_equal(r.got[2].data, "{\"type\":1}", 10);
    }
}


static void
test_utf8_across_fragments(void **state)
{
    u_char  in[64];
    size_t  n;
    run_t   r;

    /* the euro sign split 1 + 2 bytes over two fragments */
    n = frame(in, 0x01, "a\xe2", 2);
    n += frame(in + n, 0x80, "\x82\xac", 2);
    run(&r, in, n, 1, MAX_SIZE);
    assert_int_equal(r.rc, NGX_AGAIN);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.got[0].data, "a\xe2\x82\xac", 4);

    /* a message that ends inside a character */
    n = frame(in, 0x01, "a", 1);
    n += frame(in + n, 0x80, "\xe2\x82", 2);
    expect_error(in, n, NGX_SIGNAL_WS_CLOSE_INVALID_DATA);

    /* a surrogate, an overlong form */
    expect_error(in, frame(in, 0x81, "\xed\xa0\x80", 3),
                 NGX_SIGNAL_WS_CLOSE_INVALID_DATA);
    expect_error(in, frame(in, 0x81, "\xc0\xaf", 2),
                 NGX_SIGNAL_WS_CLOSE_INVALID_DATA);

    /* binary messages are not UTF-8 checked */
    run(&r, in, frame(in, 0x82, "\xff\xfe", 2), 1, MAX_SIZE);
    assert_int_equal(r.rc, NGX_AGAIN);
    assert_int_equal(r.n, 1);
}


static void
test_protocol_errors(void **state)
{
    u_char  in[512];
    size_t  n;
    char    big[126];
    int     op;

    memset(big, 'z', sizeof(big));

    /* unmasked */
    expect_error((u_char *) "\x81\x02hi", 4, NGX_SIGNAL_WS_CLOSE_PROTOCOL);

    /* reserved bits */
    expect_error(in, frame(in, 0xc1, "x", 1), NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error(in, frame(in, 0xa1, "x", 1), NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error(in, frame(in, 0x91, "x", 1), NGX_SIGNAL_WS_CLOSE_PROTOCOL);

    /* reserved opcodes */
    for (op = 3; op <= 0xf; op++) {
        if (op >= 8 && op <= 0xa) {
            continue;
        }

        expect_error(in, frame(in, 0x80 | op, "x", 1),
                     NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    }

    /* control frames: longer than 125, fragmented */
    expect_error(in, frame(in, 0x89, big, 126), NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error(in, frame(in, 0x09, "x", 1), NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error(in, frame(in, 0x08, "", 0), NGX_SIGNAL_WS_CLOSE_PROTOCOL);

    /* continuation without a message; a message inside a message */
    expect_error(in, frame(in, 0x80, "x", 1), NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    n = frame(in, 0x01, "a", 1);
    n += frame(in + n, 0x81, "b", 1);
    expect_error(in, n, NGX_SIGNAL_WS_CLOSE_PROTOCOL);

    /* non-minimal lengths, and the 64-bit top bit */
    expect_error((u_char *) "\x81\xfe\x00\x05" "abcd" "hello", 13,
                 NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error((u_char *) "\x81\xff\x00\x00\x00\x00\x00\x00\x00\x05"
                 "abcd" "hello", 19, NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error((u_char *) "\x81\xff\x00\x00\x00\x00\x00\x00\xff\xff"
                 "abcd", 14, NGX_SIGNAL_WS_CLOSE_PROTOCOL);
    expect_error((u_char *) "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05"
                 "abcd", 14, NGX_SIGNAL_WS_CLOSE_PROTOCOL);
}


static void
test_size_limit(void **state)
{
    u_char  in[3 * MAX_SIZE];
    char    payload[MAX_SIZE + 1];
    size_t  n;
    run_t   r;

    memset(payload, 'a', sizeof(payload));

    /* exactly the limit is accepted */
    run(&r, in, frame(in, 0x81, payload, MAX_SIZE), 1000, MAX_SIZE);
    assert_int_equal(r.rc, NGX_AGAIN);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.got[0].len, MAX_SIZE);

    /* one more is refused from the header alone, before the payload */
    n = frame(in, 0x81, payload, MAX_SIZE + 1);
    expect_error(in, 4, NGX_SIGNAL_WS_CLOSE_TOO_BIG);

    /* a huge declared length is refused without allocating */
    expect_error((u_char *) "\x82\xff\x00\x00\x00\x10\x00\x00\x00\x00", 10,
                 NGX_SIGNAL_WS_CLOSE_TOO_BIG);

    /* fragments adding up past the limit */
    n = frame(in, 0x01, payload, MAX_SIZE / 2);
    n += frame(in + n, 0x00, payload, MAX_SIZE / 2);
    n += frame(in + n, 0x80, payload, 1);
    expect_error(in, n, NGX_SIGNAL_WS_CLOSE_TOO_BIG);

    /* control frames do not count against the message */
    n = frame(in, 0x01, payload, MAX_SIZE - 10);
    n += frame(in + n, 0x89, payload, 100);
    n += frame(in + n, 0x80, payload, 10);
    run(&r, in, n, 3, MAX_SIZE);
    assert_int_equal(r.rc, NGX_AGAIN);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.got[1].len, MAX_SIZE);
}


static void
test_close_frame(void **state)
{
    u_char  in[64];
    run_t   r;

    run(&r, in, frame(in, 0x88, "\x03\xe8" "bye", 5), 1, MAX_SIZE);
    assert_int_equal(r.rc, NGX_AGAIN);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.got[0].opcode, NGX_SIGNAL_WS_OP_CLOSE);
    assert_int_equal(r.got[0].len, 5);
    assert_memory_equal(r.got[0].data, "\x03\xe8" "bye", 5);
}


static void
test_write_header(void **state)
{
    u_char  buf[NGX_SIGNAL_WS_MAX_HEADER], *p;

    p = ngx_signal_ws_write_header(buf, NGX_SIGNAL_WS_OP_TEXT, 0);
    assert_int_equal(p - buf, 2);
    assert_memory_equal(buf, "\x81\x00", 2);
    assert_int_equal(ngx_signal_ws_header_size(0), 2);

    p = ngx_signal_ws_write_header(buf, NGX_SIGNAL_WS_OP_TEXT, 125);
    assert_memory_equal(buf, "\x81\x7d", 2);
    assert_int_equal(ngx_signal_ws_header_size(125), 2);

    p = ngx_signal_ws_write_header(buf, NGX_SIGNAL_WS_OP_BINARY, 126);
    assert_int_equal(p - buf, 4);
    assert_memory_equal(buf, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(ngx_signal_ws_header_size(126), 4);

    p = ngx_signal_ws_write_header(buf, NGX_SIGNAL_WS_OP_TEXT, 65535);
    assert_memory_equal(buf, "\x81\x7e\xff\xff", 4);
    assert_int_equal(ngx_signal_ws_header_size(65535), 4);

    p = ngx_signal_ws_write_header(buf, NGX_SIGNAL_WS_OP_CLOSE, 65536);
    assert_int_equal(p - buf, 10);
    assert_memory_equal(buf, "\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(ngx_signal_ws_header_size(65536), 10);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_any_split),
        cmocka_unit_test(test_64bit_length),
        cmocka_unit_test(test_fragments_with_ping),
        cmocka_unit_test(test_utf8_across_fragments),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_close_frame),
        cmocka_unit_test(test_write_header),
    };

    return cmocka_run_group_tests_name("ws_parse", tests, NULL, NULL);
}
