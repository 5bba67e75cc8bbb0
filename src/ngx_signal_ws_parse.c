
/*
 * Copyright (C) ngx_signal_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_ws_parse.h"


/* states of the UTF-8 validator beyond ACCEPT and REJECT */
#define NGX_SIGNAL_UTF8_TAIL1     2      /* one 80..BF byte left */
#define NGX_SIGNAL_UTF8_TAIL2     3      /* two left */
#define NGX_SIGNAL_UTF8_TAIL3     4      /* three left */
#define NGX_SIGNAL_UTF8_E0        5      /* A0..BF, then one: no overlong */
#define NGX_SIGNAL_UTF8_ED        6      /* 80..9F, then one: no surrogate */
#define NGX_SIGNAL_UTF8_F0        7      /* 90..BF, then two: no overlong */
#define NGX_SIGNAL_UTF8_F4        8      /* 80..8F, then two: <= U+10FFFF */


enum {
    sw_start = 0,
    sw_length,
    sw_extended_length,
    sw_mask,
    sw_payload
};


static ngx_int_t ngx_signal_ws_fail(ngx_signal_ws_reader_t *rd,
    ngx_uint_t code, const char *error);
static ngx_int_t ngx_signal_ws_frame_start(ngx_signal_ws_reader_t *rd,
    u_char ch);
static ngx_int_t ngx_signal_ws_extended_length(ngx_signal_ws_reader_t *rd);
static ngx_int_t ngx_signal_ws_length_done(ngx_signal_ws_reader_t *rd);
static ngx_int_t ngx_signal_ws_payload_start(ngx_signal_ws_reader_t *rd);
static ngx_int_t ngx_signal_ws_frame_done(ngx_signal_ws_reader_t *rd,
    ngx_signal_ws_message_t *msg);
static void ngx_signal_ws_unmask(ngx_signal_ws_reader_t *rd, u_char *dst,
    u_char *src, size_t n);


void
ngx_signal_ws_reader_init(ngx_signal_ws_reader_t *rd, size_t max_size,
    ngx_log_t *log)
{
    ngx_memzero(rd, sizeof(ngx_signal_ws_reader_t));

    rd->log = log;
    rd->max_message_size = max_size;
    rd->state = sw_start;
    rd->utf8_state = NGX_SIGNAL_UTF8_ACCEPT;
}


void
ngx_signal_ws_reader_free(ngx_signal_ws_reader_t *rd)
{
    if (rd->msg) {
        ngx_free(rd->msg);
        rd->msg = NULL;
    }

    rd->msg_size = 0;
    rd->msg_len = 0;
}


ngx_int_t
ngx_signal_ws_read(ngx_signal_ws_reader_t *rd, u_char **pos, u_char *last,
    ngx_signal_ws_message_t *msg)
{
    u_char    ch, *p, *dst;
    size_t    n;
    ngx_int_t rc;

    if (!rd->in_message && rd->msg) {
        /* the previous message was handed out: release it */
        ngx_signal_ws_reader_free(rd);
    }

    p = *pos;

    while (p < last || (rd->state == sw_payload && rd->remaining == 0)) {

        switch (rd->state) {

        case sw_start:
            ch = *p++;
            rc = ngx_signal_ws_frame_start(rd, ch);
            if (rc != NGX_OK) {
                *pos = p;
                return rc;
            }
            break;

        case sw_length:
            ch = *p++;

            if (!(ch & 0x80)) {
                *pos = p;
                return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                          "client frame is not masked");
            }

            ch &= 0x7f;

            if (ch == 126) {
                rd->len_bytes = 2;
                rd->len_size = 2;
                rd->payload_len = 0;
                rd->state = sw_extended_length;
                break;
            }

            if (ch == 127) {
                rd->len_bytes = 8;
                rd->len_size = 8;
                rd->payload_len = 0;
                rd->state = sw_extended_length;
                break;
            }

            rd->payload_len = ch;

            rc = ngx_signal_ws_length_done(rd);
            if (rc != NGX_OK) {
                *pos = p;
                return rc;
            }
            break;

        case sw_extended_length:
            rd->payload_len = (rd->payload_len << 8) | *p++;

            if (--rd->len_bytes) {
                break;
            }

            rc = ngx_signal_ws_extended_length(rd);
            if (rc == NGX_OK) {
                rc = ngx_signal_ws_length_done(rd);
            }
            if (rc != NGX_OK) {
                *pos = p;
                return rc;
            }
            break;

        case sw_mask:
            rd->mask[rd->mask_pos++] = *p++;

            if (rd->mask_pos < 4) {
                break;
            }

            rc = ngx_signal_ws_payload_start(rd);
            if (rc != NGX_OK) {
                *pos = p;
                return rc;
            }
            break;

        case sw_payload:

            if (rd->remaining) {
                n = ngx_min((uint64_t) (last - p), rd->remaining);

                if (rd->opcode & 0x8) {
                    dst = rd->control + rd->control_len;
                    rd->control_len += n;

                } else {
                    dst = rd->msg + rd->msg_len;
                    rd->msg_len += n;
                }

                ngx_signal_ws_unmask(rd, dst, p, n);

                if (rd->opcode == NGX_SIGNAL_WS_OP_TEXT
                    || (rd->opcode == NGX_SIGNAL_WS_OP_CONT
                        && rd->msg_opcode == NGX_SIGNAL_WS_OP_TEXT))
                {
                    rd->utf8_state = ngx_signal_utf8_validate(rd->utf8_state,
                                                              dst, n);
                    if (rd->utf8_state == NGX_SIGNAL_UTF8_REJECT) {
                        *pos = p + n;
                        return ngx_signal_ws_fail(rd,
                                           NGX_SIGNAL_WS_CLOSE_INVALID_DATA,
                                           "text message is not valid UTF-8");
                    }
                }

                p += n;
                rd->remaining -= n;

                if (rd->remaining) {
                    break;
                }
            }

            rd->state = sw_start;

            rc = ngx_signal_ws_frame_done(rd, msg);

            if (rc == NGX_AGAIN) {
                /* a non-final fragment: keep going */
                break;
            }

            *pos = p;
            return rc;
        }
    }

    *pos = p;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_signal_ws_fail(ngx_signal_ws_reader_t *rd, ngx_uint_t code,
    const char *error)
{
    rd->close_code = code;
    rd->error = error;

    return NGX_ERROR;
}


static ngx_int_t
ngx_signal_ws_frame_start(ngx_signal_ws_reader_t *rd, u_char ch)
{
    ngx_uint_t  opcode;

    if (ch & 0x70) {
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                  "reserved bits set without an extension");
    }

    opcode = ch & 0x0f;
    rd->fin = (ch & 0x80) ? 1 : 0;
    rd->opcode = opcode;

    switch (opcode) {

    case NGX_SIGNAL_WS_OP_CLOSE:
    case NGX_SIGNAL_WS_OP_PING:
    case NGX_SIGNAL_WS_OP_PONG:
        if (!rd->fin) {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                      "fragmented control frame");
        }
        break;

    case NGX_SIGNAL_WS_OP_CONT:
        if (!rd->in_message) {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                      "continuation frame without a message");
        }
        break;

    case NGX_SIGNAL_WS_OP_TEXT:
    case NGX_SIGNAL_WS_OP_BINARY:
        if (rd->in_message) {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                      "new message inside a fragmented one");
        }
        break;

    default:
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                  "reserved opcode");
    }

    rd->state = sw_length;

    return NGX_OK;
}


/* RFC 6455 5.2: the minimal number of bytes, and the top bit clear */

static ngx_int_t
ngx_signal_ws_extended_length(ngx_signal_ws_reader_t *rd)
{
    if (rd->len_size == 2) {
        if (rd->payload_len < 126) {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                      "length not minimally encoded");
        }

        return NGX_OK;
    }

    if (rd->payload_len & 0x8000000000000000ULL) {
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                  "64-bit length with the top bit set");
    }

    if (rd->payload_len <= 0xffff) {
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                  "length not minimally encoded");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_ws_length_done(ngx_signal_ws_reader_t *rd)
{
    uint64_t  len, have;

    len = rd->payload_len;

    if (rd->opcode & 0x8) {
        if (len > NGX_SIGNAL_WS_MAX_CONTROL) {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                      "control frame longer than 125 bytes");
        }

    } else {
        have = (rd->opcode == NGX_SIGNAL_WS_OP_CONT) ? rd->msg_len : 0;

        /* checked before any allocation, and without overflow */

        if (len > rd->max_message_size
            || have > rd->max_message_size - len)
        {
            return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_TOO_BIG,
                                      "message too big");
        }
    }

    rd->mask_pos = 0;
    rd->state = sw_mask;

    return NGX_OK;
}


static ngx_int_t
ngx_signal_ws_payload_start(ngx_signal_ws_reader_t *rd)
{
    u_char  *p;
    size_t   need, size;

    rd->remaining = rd->payload_len;
    rd->mask_pos = 0;
    rd->state = sw_payload;

    if (rd->opcode & 0x8) {
        rd->control_len = 0;
        return NGX_OK;
    }

    if (rd->opcode != NGX_SIGNAL_WS_OP_CONT) {
        rd->in_message = 1;
        rd->msg_opcode = rd->opcode;
        rd->msg_len = 0;
        rd->utf8_state = NGX_SIGNAL_UTF8_ACCEPT;
    }

    /* one spare byte keeps a NUL after the message for the JSON parser */

    need = rd->msg_len + (size_t) rd->payload_len + 1;

    if (need <= rd->msg_size) {
        return NGX_OK;
    }

    size = ngx_max(need, ngx_min(rd->msg_size * 2,
                                 rd->max_message_size + 1));

    p = ngx_alloc(size, rd->log);
    if (p == NULL) {
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_INTERNAL,
                                  "out of memory");
    }

    if (rd->msg) {
        ngx_memcpy(p, rd->msg, rd->msg_len);
        ngx_free(rd->msg);
    }

    rd->msg = p;
    rd->msg_size = size;

    return NGX_OK;
}


static ngx_int_t
ngx_signal_ws_frame_done(ngx_signal_ws_reader_t *rd,
    ngx_signal_ws_message_t *msg)
{
    if (rd->opcode & 0x8) {
        msg->opcode = rd->opcode;
        msg->data = rd->control;
        msg->len = rd->control_len;
        return NGX_OK;
    }

    if (!rd->fin) {
        return NGX_AGAIN;
    }

    if (rd->msg_opcode == NGX_SIGNAL_WS_OP_TEXT
        && rd->utf8_state != NGX_SIGNAL_UTF8_ACCEPT)
    {
        return ngx_signal_ws_fail(rd, NGX_SIGNAL_WS_CLOSE_INVALID_DATA,
                                  "text message ends inside a character");
    }

    rd->in_message = 0;

    if (rd->msg == NULL) {
        /* an empty message: give the caller a valid pointer anyway */
        msg->data = rd->control;
        msg->len = 0;

    } else {
        rd->msg[rd->msg_len] = '\0';
        msg->data = rd->msg;
        msg->len = rd->msg_len;
    }

    msg->opcode = rd->msg_opcode;

    return NGX_OK;
}


static void
ngx_signal_ws_unmask(ngx_signal_ws_reader_t *rd, u_char *dst, u_char *src,
    size_t n)
{
    size_t      i;
    ngx_uint_t  k;

    k = rd->mask_pos;

    for (i = 0; i < n; i++) {
        dst[i] = src[i] ^ rd->mask[k];
        k = (k + 1) & 3;
    }

    rd->mask_pos = k;
}


u_char *
ngx_signal_ws_write_header(u_char *p, ngx_uint_t opcode, uint64_t len)
{
    ngx_int_t  i;

    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;

    } else if (len <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) (len & 0xff);

    } else {
        *p++ = 127;

        for (i = 7; i >= 0; i--) {
            *p++ = (u_char) ((len >> (i * 8)) & 0xff);
        }
    }

    return p;
}


size_t
ngx_signal_ws_header_size(uint64_t len)
{
    if (len < 126) {
        return 2;
    }

    return (len <= 0xffff) ? 4 : 10;
}


uint32_t
ngx_signal_utf8_validate(uint32_t state, u_char *p, size_t len)
{
    u_char  *last, ch;

    last = p + len;

    while (p < last) {
        ch = *p++;

        switch (state) {

        case NGX_SIGNAL_UTF8_ACCEPT:

            if (ch < 0x80) {
                /* ASCII runs are the common case */
                while (p < last && *p < 0x80) {
                    p++;
                }
                continue;
            }

            if (ch >= 0xc2 && ch <= 0xdf) {
                state = NGX_SIGNAL_UTF8_TAIL1;

            } else if (ch == 0xe0) {
                state = NGX_SIGNAL_UTF8_E0;

            } else if (ch == 0xed) {
                state = NGX_SIGNAL_UTF8_ED;

            } else if (ch >= 0xe1 && ch <= 0xef) {
                state = NGX_SIGNAL_UTF8_TAIL2;

            } else if (ch == 0xf0) {
                state = NGX_SIGNAL_UTF8_F0;

            } else if (ch >= 0xf1 && ch <= 0xf3) {
                state = NGX_SIGNAL_UTF8_TAIL3;

            } else if (ch == 0xf4) {
                state = NGX_SIGNAL_UTF8_F4;

            } else {
                return NGX_SIGNAL_UTF8_REJECT;
            }

            continue;

        case NGX_SIGNAL_UTF8_E0:
            if (ch < 0xa0 || ch > 0xbf) {
                return NGX_SIGNAL_UTF8_REJECT;
            }
            state = NGX_SIGNAL_UTF8_TAIL1;
            continue;

        case NGX_SIGNAL_UTF8_ED:
            if (ch < 0x80 || ch > 0x9f) {
                return NGX_SIGNAL_UTF8_REJECT;
            }
            state = NGX_SIGNAL_UTF8_TAIL1;
            continue;

        case NGX_SIGNAL_UTF8_F0:
            if (ch < 0x90 || ch > 0xbf) {
                return NGX_SIGNAL_UTF8_REJECT;
            }
            state = NGX_SIGNAL_UTF8_TAIL2;
            continue;

        case NGX_SIGNAL_UTF8_F4:
            if (ch < 0x80 || ch > 0x8f) {
                return NGX_SIGNAL_UTF8_REJECT;
            }
            state = NGX_SIGNAL_UTF8_TAIL2;
            continue;

        case NGX_SIGNAL_UTF8_TAIL1:
        case NGX_SIGNAL_UTF8_TAIL2:
        case NGX_SIGNAL_UTF8_TAIL3:
            if (ch < 0x80 || ch > 0xbf) {
                return NGX_SIGNAL_UTF8_REJECT;
            }
            state = (state == NGX_SIGNAL_UTF8_TAIL1)
                    ? NGX_SIGNAL_UTF8_ACCEPT : state - 1;
            continue;

        default:
            return NGX_SIGNAL_UTF8_REJECT;
        }
    }

    return state;
}


ngx_uint_t
ngx_signal_ws_close_code_valid(ngx_uint_t code)
{
    if (code >= 1000 && code <= 1003) {
        return 1;
    }

    if (code >= 1007 && code <= 1014) {
        return 1;
    }

    return (code >= 3000 && code <= 4999);
}
