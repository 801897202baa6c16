/*
 * dkim: DKIM signatures (RFC 6376) for report mail, with OpenSSL 3.
 *
 * RFC 8460 section 3 requires reports sent by mail to carry a valid DKIM
 * signature of the reporting domain and forbids the l= tag. The signer
 * makes rsa-sha256 (RFC 6376) or ed25519-sha256 (RFC 8463) signatures,
 * chosen by the type of the private key, with relaxed/relaxed
 * canonicalisation. h= names every header field of a report message that
 * is present (From, To, Subject, Date, Message-ID, MIME-Version,
 * Content-Type, Auto-Submitted, TLS-Report-Domain, TLS-Report-Submitter,
 * TLS-Required), each once, and names From a second time so that a From
 * field added in transit breaks the signature. t= holds the signing time.
 *
 * The key is read once, before the mailer drops privileges, and is kept
 * in memory. Error messages name the key file and the problem but never
 * contain key material.
 *
 * The canonicalisation functions are public so that tests can check them
 * against the cases of RFC 6376 sections 3.4.2 and 3.4.4.
 */
#ifndef TLSRPTD_DKIM_H
#define TLSRPTD_DKIM_H

#include <stddef.h>
#include <time.h>

#include "strbuf.h"

#define DKIM_RSA_MIN_BITS	1024	/* python3-dkim rejects smaller ones */
#define DKIM_KEY_FILE_MAX	(64 * 1024)	/* bytes of PEM text */

struct dkim_signer;

/*
 * Read and parse the private key (PEM, unencrypted; RSA of at least
 * DKIM_RSA_MIN_BITS bits, or Ed25519) from key_path, for signatures of
 * domain (d=) with selector (s=). Both names are checked and stored as
 * lower-case A-labels. Returns a signer that the caller releases with
 * dkim_signer_free(), or NULL with a message naming the file and the
 * problem appended to error.
 */
struct dkim_signer *dkim_signer_load(const char *key_path, const char *domain,
				     const char *selector,
				     struct strbuf *error);

/*
 * Append a complete "DKIM-Signature: ...\r\n" header field, folded into
 * lines of at most 78 characters, for message to out. The message has
 * CRLF line ends: header fields, an empty line, then the body (a message
 * without the empty line has an empty body). The field is to be
 * prepended to the message unchanged; now is the signing time (t=).
 * Returns -1 with a reason in error if the message has a bare CR or LF,
 * a malformed header line, a required field missing (From, To, Subject,
 * Date, Message-ID, TLS-Report-Domain, TLS-Report-Submitter) or a signed
 * field more than once, or if OpenSSL fails.
 */
int dkim_sign(const struct dkim_signer *signer, const char *message,
	      size_t len, time_t now, struct strbuf *out,
	      struct strbuf *error);

void dkim_signer_free(struct dkim_signer *signer);

/*
 * Build the signer that main.cf describes with dkim_private_key,
 * dkim_selector and dkim_domain. Returns 0 with *signer set to NULL when
 * none of the three is set, 1 with a new signer in *signer when all are
 * set, and -1 with a reason in error when only some are set, when
 * dkim_domain is neither the submitter domain nor a parent of it (RFC
 * 8460 wants the reporting domain to sign), or when the key cannot be
 * loaded. submitter is the domain of contact_info.
 */
int dkim_signer_from_config(const char *submitter,
			    struct dkim_signer **signer,
			    struct strbuf *error);

/*
 * Append the relaxed canonical form (RFC 6376 section 3.4.2) of one
 * header field to out: the name in lower case, a colon, the unfolded
 * value with each run of white space turned into one space and none at
 * either end, then CRLF. field is the raw field without its final CRLF.
 */
void dkim_relax_header(const char *field, size_t len, struct strbuf *out);

/*
 * Append the relaxed canonical form (RFC 6376 section 3.4.4) of a message
 * body to out: each run of white space within a line turned into one
 * space, white space at line ends removed, empty lines at the end
 * removed, and a CRLF added to a last line that lacks one. An empty body
 * stays empty.
 */
void dkim_relax_body(const char *body, size_t len, struct strbuf *out);

#endif
