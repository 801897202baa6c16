/*
 * keys: what the mailer must read before it drops privileges and
 * chroots, kept in memory for the life of the process: the DKIM signing
 * key, the SMTP AUTH password and the OpenSSL contexts with the CA
 * certificates for HTTPS.
 *
 * keys_load() runs in main() before worker_jail(). Every problem is a
 * configuration error that names the parameter or file. main() makes it
 * fatal, so a mailer never runs without the signature or the
 * credentials that the admin configured. After a reload the files
 * cannot be read again (the mailer may no longer have the right to),
 * so keys_check_reload() warns when one of their parameters changed
 * and the old values stay in use until the mailer restarts.
 *
 * The SMTP AUTH password is the first line of smtp_sasl_password_file,
 * without its line end. It is never logged.
 */
#ifndef TLSRPTD_KEYS_H
#define TLSRPTD_KEYS_H

#include <openssl/ssl.h>

#include "dkim.h"
#include "strbuf.h"

#define KEYS_PASSWORD_FILE_MAX	4096	/* bytes */

struct mailer_keys {
	SSL_CTX *smtp_tls;		/* STARTTLS, no verification */
	SSL_CTX *https_tls;		/* HTTPS, CA certificates loaded */
	struct dkim_signer *dkim;	/* NULL without DKIM settings */
	char *sasl_password;		/* NULL without smtp_sasl_username */
	char *loaded_with;		/* the parameter values used */
};

int keys_load(struct mailer_keys *keys, struct strbuf *error);
void keys_check_reload(const struct mailer_keys *keys);
void keys_free(struct mailer_keys *keys);

#endif
