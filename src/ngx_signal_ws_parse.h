
/*
 * Copyright (C) ngx_signal_module authors
 */


#ifndef _NGX_SIGNAL_WS_PARSE_H_INCLUDED_
#define _NGX_SIGNAL_WS_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The RFC 6455 reader: an incremental, I/O-free frame parser and message
 * assembler.  It consumes whatever bytes arrived (one byte at a time works),
 * unmasks payloads, enforces the protocol rules and the message size limit
 * before allocating, validates UTF-8 of text messages across fragments, and
 * hands back complete messages and control frames.
 */


#define NGX_SIGNAL_WS_OP_CONT         0x0
#define NGX_SIGNAL_WS_OP_TEXT         0x1
#define NGX_SIGNAL_WS_OP_BINARY       0x2
#define NGX_SIGNAL_WS_OP_CLOSE        0x8
#define NGX_SIGNAL_WS_OP_PING         0x9
#define NGX_SIGNAL_WS_OP_PONG         0xa

#define NGX_SIGNAL_WS_CLOSE_NORMAL          1000
#define NGX_SIGNAL_WS_CLOSE_GOING_AWAY      1001
#define NGX_SIGNAL_WS_CLOSE_PROTOCOL        1002
#define NGX_SIGNAL_WS_CLOSE_UNSUPPORTED     1003
#define NGX_SIGNAL_WS_CLOSE_NO_STATUS       1005
#define NGX_SIGNAL_WS_CLOSE_INVALID_DATA    1007
#define NGX_SIGNAL_WS_CLOSE_POLICY          1008
#define NGX_SIGNAL_WS_CLOSE_TOO_BIG         1009
#define NGX_SIGNAL_WS_CLOSE_INTERNAL        1011
#define NGX_SIGNAL_WS_CLOSE_RESTART         1012

#define NGX_SIGNAL_WS_MAX_CONTROL     125

/* the longest server frame header: 2 + 8 bytes, never masked */
#define NGX_SIGNAL_WS_MAX_HEADER      10

#define NGX_SIGNAL_UTF8_ACCEPT        0
#define NGX_SIGNAL_UTF8_REJECT        1


typedef struct {
    /* what the caller gets back for NGX_OK */
    ngx_uint_t          opcode;      /* TEXT, BINARY, CLOSE, PING, PONG */
    u_char             *data;        /* message payload, unmasked */
    size_t              len;
} ngx_signal_ws_message_t;


typedef struct {
    ngx_log_t          *log;
    size_t              max_message_size;

    /* frame state */
    ngx_uint_t          state;
    ngx_uint_t          opcode;
    ngx_uint_t          len_bytes;       /* left to read */
    ngx_uint_t          len_size;        /* 2 or 8 */
    uint64_t            payload_len;
    uint64_t            remaining;
    u_char              mask[4];
    ngx_uint_t          mask_pos;
    unsigned            fin:1;

    /* the data message being assembled (one at a time) */
    unsigned            in_message:1;
    ngx_uint_t          msg_opcode;
    u_char             *msg;
    size_t              msg_len;
    size_t              msg_size;
    uint32_t            utf8_state;

    /* the control frame being read (interleaved between fragments) */
    u_char              control[NGX_SIGNAL_WS_MAX_CONTROL];
    size_t              control_len;

    /* set when NGX_ERROR is returned */
    ngx_uint_t          close_code;
    const char         *error;
} ngx_signal_ws_reader_t;


void ngx_signal_ws_reader_init(ngx_signal_ws_reader_t *rd, size_t max_size,
    ngx_log_t *log);
void ngx_signal_ws_reader_free(ngx_signal_ws_reader_t *rd);

/*
 * Consume bytes from *pos up to last.  Returns:
 *   NGX_OK     a message or control frame is in *msg, *pos points past it;
 *              the data stays valid until the next call
 *   NGX_AGAIN  every byte was consumed, more input is needed
 *   NGX_ERROR  protocol violation: rd->close_code and rd->error say why
 */
ngx_int_t ngx_signal_ws_read(ngx_signal_ws_reader_t *rd, u_char **pos,
    u_char *last, ngx_signal_ws_message_t *msg);

/* write an unmasked frame header for len bytes, returns its end */
u_char *ngx_signal_ws_write_header(u_char *p, ngx_uint_t opcode,
    uint64_t len);
size_t ngx_signal_ws_header_size(uint64_t len);

/* incremental UTF-8 validation; state starts at NGX_SIGNAL_UTF8_ACCEPT */
uint32_t ngx_signal_utf8_validate(uint32_t state, u_char *p, size_t len);

/* is a received close code one a peer may send (RFC 6455 7.4) */
ngx_uint_t ngx_signal_ws_close_code_valid(ngx_uint_t code);


#endif /* _NGX_SIGNAL_WS_PARSE_H_INCLUDED_ */
