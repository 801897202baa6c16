/*
 * tls: the OpenSSL client contexts of the mailer and the text of
 * OpenSSL errors.
 *
 * tls_context_smtp() is for STARTTLS to the relay: opportunistic TLS
 * that verifies no certificate, as Postfix does at its "may" and
 * "encrypt" levels. tls_context_https() is for HTTPS report delivery:
 * TLS 1.2 or later, with the trusted CA certificates loaded at once from
 * ca_file, or from OpenSSL's default locations when ca_file is empty.
 * Whether a connection verifies the server is set per connection (see
 * net_tls_start()), so https_verify can change on reload.
 *
 * Both contexts must be made before the mailer chroots, because the CA
 * certificates are read from the file system. OpenSSL's default
 * certificate directory is searched lazily, so with chroot only the
 * default bundle file, read here, is available.
 */
#ifndef TLSRPTD_TLS_H
#define TLSRPTD_TLS_H

#include <openssl/ssl.h>

#include "strbuf.h"

SSL_CTX *tls_context_smtp(struct strbuf *error);
SSL_CTX *tls_context_https(const char *ca_file, struct strbuf *error);

/* Append the queued OpenSSL errors to out, "; "-separated, and clear
 * the queue. Appends fallback when the queue is empty. */
void tls_error_text(struct strbuf *out, const char *fallback);

#endif
