
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The native protocol (docs/protocol.md): JSON text messages over
 * WebSocket.
 */


#ifndef _NGX_SIGNAL_NATIVE_H_INCLUDED_
#define _NGX_SIGNAL_NATIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_protocol.h"


extern ngx_signal_protocol_t  ngx_signal_native_protocol;


#endif /* _NGX_SIGNAL_NATIVE_H_INCLUDED_ */
