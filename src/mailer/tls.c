/*
 * tls: OpenSSL client contexts and error texts (see tls.h).
 */
#include <openssl/err.h>

#include "tls.h"

#define TLS_ERRORS_SHOWN	3	/* queued errors named in a message */

void tls_error_text(struct strbuf *out, const char *fallback)
{
	unsigned long code;
	unsigned shown = 0;

	while ((code = ERR_get_error()) != 0) {
		char text[256];

		if (shown++ >= TLS_ERRORS_SHOWN)
			continue;
		ERR_error_string_n(code, text, sizeof(text));
		if (shown > 1)
			strbuf_puts(out, "; ");
		strbuf_puts(out, text);
	}
	if (shown == 0)
		strbuf_puts(out, fallback);
}

/* A client context with the settings both uses share. Peers that close
 * the connection without a TLS close_notify are common and harmless
 * here, because every protocol on top marks where its data ends. */
static SSL_CTX *new_context(struct strbuf *error)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		strbuf_puts(error, "cannot create an OpenSSL context: ");
		tls_error_text(error, "unknown error");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
			 | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

SSL_CTX *tls_context_smtp(struct strbuf *error)
{
	return new_context(error);
}

SSL_CTX *tls_context_https(const char *ca_file, struct strbuf *error)
{
	SSL_CTX *ctx = new_context(error);
	int loaded;

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		strbuf_puts(error, "cannot require TLS 1.2: ");
		tls_error_text(error, "unknown error");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (ca_file[0] != '\0')
		loaded = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		loaded = SSL_CTX_set_default_verify_paths(ctx);
	if (loaded != 1) {
		strbuf_printf(error, "cannot load the CA certificates of %s: ",
			      ca_file[0] != '\0' ? ca_file
			      : "OpenSSL's default locations");
		tls_error_text(error, "unknown error");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
