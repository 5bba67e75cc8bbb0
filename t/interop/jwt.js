#!/usr/bin/env node
'use strict';

// Token maker for t/070-jwt.t, on node's own crypto (an implementation
// nobody here wrote).  Usage: jwt.js DIR < requests, one JSON per line:
//   {"alg":"RS256","key":"rsa"|"rsa-other"|"ec256"|"ec384"|"secret",
//    "secret":"...", "header":{...extra}, "payload":{...}, "raw":"...",
//    "tamper":true}
// prints one token per line.  Keys are made in DIR on the first run: for
// each name, NAME.pem (private) and NAME.pub.pem.  "raw" signs that text
// as the header and payload part, untouched; "tamper" changes the claims
// after signing.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const dir = process.argv[2];
if (!dir) {
    process.stderr.write('usage: jwt.js DIR\n');
    process.exit(1);
}

const specs = {
    'rsa': ['rsa', { modulusLength: 2048 }],
    'rsa-other': ['rsa', { modulusLength: 2048 }],
    'ec256': ['ec', { namedCurve: 'P-256' }],
    'ec384': ['ec', { namedCurve: 'P-384' }],
};

for (const [name, [type, opts]] of Object.entries(specs)) {
    const priv = path.join(dir, name + '.pem');
    if (fs.existsSync(priv)) continue;
    const { publicKey, privateKey } = crypto.generateKeyPairSync(type, {
        ...opts,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    fs.writeFileSync(priv, privateKey);
    fs.writeFileSync(path.join(dir, name + '.pub.pem'), publicKey);
}

const b64 = (buf) => Buffer.from(buf).toString('base64url');

function sign(req) {
    const alg = req.alg;
    const header = { alg, typ: 'JWT', ...(req.header || {}) };
    const input = req.raw !== undefined ? req.raw
        : b64(JSON.stringify(header)) + '.' + b64(JSON.stringify(req.payload));
    const bits = alg.slice(2);
    let sig = Buffer.alloc(0);

    if (alg.startsWith('HS')) {
        sig = crypto.createHmac('sha' + bits, req.secret).update(input)
            .digest();
    } else if (alg.startsWith('RS') || alg.startsWith('ES')) {
        const key = fs.readFileSync(path.join(dir, req.key + '.pem'));
        sig = crypto.sign('sha' + bits, Buffer.from(input), {
            key, dsaEncoding: 'ieee-p1363',
        });
    }

    let token = input + '.' + b64(sig);

    if (req.tamper) {
        // the same signature over other claims: startupId 1 -> 2
        const parts = token.split('.');
        const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
        claims.startupId = 2;
        parts[1] = b64(JSON.stringify(claims));
        token = parts.join('.');
    }

    return token;
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
    process.stdout.write(sign(JSON.parse(line)) + '\n');
});
