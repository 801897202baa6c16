/*
 * dkim: DKIM signatures for report mail (see dkim.h).
 *
 * Signing follows RFC 6376 section 3.7. The body is canonicalised and
 * hashed into bh=. The header fields named in h= are canonicalised one by
 * one, and the DKIM-Signature field itself follows with an empty b= and
 * no final CRLF. That data is signed: RSA with PKCS #1 v1.5 over SHA-256
 * through EVP_DigestSign, or Ed25519 (PureEdDSA) over the 32-byte SHA-256
 * hash of the data, as RFC 8463 section 3 defines ed25519-sha256. The
 * field is folded before it is hashed, so the bytes signed are the bytes
 * sent; relaxed canonicalisation makes the folding irrelevant to
 * verifiers anyway.
 *
 * Canonicalisation is done here because it is DKIM's own algorithm;
 * hashing, signatures and base64 come from OpenSSL.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base64.h"
#include "config.h"
#include "dkim.h"
#include "domain.h"
#include "xalloc.h"

#define DKIM_LINE_MAX	78	/* RFC 5322: lines SHOULD fit */
#define DKIM_B_MIN	16	/* signature characters kept next to "b=" */

enum dkim_algorithm {
	DKIM_RSA_SHA256,
	DKIM_ED25519_SHA256,
};

struct dkim_signer {
	EVP_PKEY *key;
	enum dkim_algorithm algorithm;
	char *domain;		/* d=, a lower-case A-label name */
	char *selector;		/* s=, likewise */
};

/* The header fields that h= names, in h= order, when the message has
 * them. A report message must have the required ones. */
static const struct signed_field {
	const char *name;
	bool required;
} signed_fields[] = {
	{"From", true},
	{"To", true},
	{"Subject", true},
	{"Date", true},
	{"Message-ID", true},
	{"MIME-Version", false},
	{"Content-Type", false},
	{"Auto-Submitted", false},
	{"TLS-Report-Domain", true},
	{"TLS-Report-Submitter", true},
	{"TLS-Required", false},
};

#define SIGNED_FIELD_COUNT (sizeof(signed_fields) / sizeof(signed_fields[0]))

/* One header field of the message: its raw text without the final CRLF,
 * folding included. */
struct header_field {
	const char *text;
	size_t len;
	size_t name_len;	/* up to the colon, trailing WSP excluded */
};

static const char *algorithm_name(enum dkim_algorithm algorithm)
{
	return algorithm == DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Append the OpenSSL reason for the last failure, and clear the error
 * queue so that a later failure is not blamed on this one. */
static void append_openssl_reason(struct strbuf *error)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;

	strbuf_printf(error, " (OpenSSL: %s)",
		      reason != NULL ? reason : "no reason given");
	ERR_clear_error();
}

/* Canonicalisation (RFC 6376 section 3.4). */

void dkim_relax_header(const char *field, size_t len, struct strbuf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len = colon != NULL ? (size_t)(colon - field) : len;
	size_t value_start = colon != NULL ? name_len + 1 : len;
	bool in_wsp = false;
	bool started = false;
	size_t i;

	/* The name loses white space before the colon and is lower-cased. */
	while (name_len > 0 && is_wsp(field[name_len - 1]))
		name_len--;
	for (i = 0; i < name_len; i++) {
		char c = field[i];

		strbuf_putc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
	}
	strbuf_putc(out, ':');

	/* The value is unfolded, each run of white space becomes one space,
	 * and white space at either end goes. Folding CRLFs are dropped
	 * without leaving a space, but the white space after them counts. */
	for (i = value_start; i < len; i++) {
		char c = field[i];

		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			in_wsp = true;
			continue;
		}
		if (in_wsp && started)
			strbuf_putc(out, ' ');
		in_wsp = false;
		started = true;
		strbuf_putc(out, c);
	}
	strbuf_puts(out, "\r\n");
}

/* Tell whether line[0..len) is empty once white space is removed. */
static bool is_blank_line(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_wsp(line[i]))
			return false;
	return true;
}

/* Append one line, relaxed, with its CRLF. */
static void relax_body_line(const char *line, size_t len, struct strbuf *out)
{
	bool in_wsp = false;
	size_t i;

	for (i = 0; i < len; i++) {
		if (is_wsp(line[i])) {
			in_wsp = true;
			continue;
		}
		if (in_wsp)
			strbuf_putc(out, ' ');
		in_wsp = false;
		strbuf_putc(out, line[i]);
	}
	strbuf_puts(out, "\r\n");
}

void dkim_relax_body(const char *body, size_t len, struct strbuf *out)
{
	size_t pending_empty = 0;	/* empty lines not yet known to be
					 * followed by text */
	size_t pos = 0;

	strbuf_reserve(out, len);
	while (pos < len) {
		const char *end = memmem(body + pos, len - pos, "\r\n", 2);
		size_t line_len = end != NULL ? (size_t)(end - (body + pos))
			: len - pos;

		if (is_blank_line(body + pos, line_len)) {
			pending_empty++;
		} else {
			for (; pending_empty > 0; pending_empty--)
				strbuf_puts(out, "\r\n");
			relax_body_line(body + pos, line_len, out);
		}
		pos += line_len + (end != NULL ? 2 : 0);
	}
}

/* Message parsing. */

/* Reject a CR or LF that is not part of a CRLF pair, because an MTA may
 * convert it later and verifiers would then hash other bytes. */
static int check_line_ends(const char *message, size_t len,
			   struct strbuf *error)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (message[i] == '\r' && (i + 1 == len
					   || message[i + 1] != '\n')) {
			strbuf_printf(error, "the message has a bare CR at "
				      "offset %zu; DKIM signing needs CRLF "
				      "line ends", i);
			return -1;
		}
		if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) {
			strbuf_printf(error, "the message has a bare LF at "
				      "offset %zu; DKIM signing needs CRLF "
				      "line ends", i);
			return -1;
		}
	}
	return 0;
}

/* Store the length of a field name: printable ASCII except the colon,
 * optionally followed by white space, then the colon. */
static int field_name_length(const char *line, size_t len, size_t *name_len)
{
	size_t i = 0;

	while (i < len && line[i] > ' ' && line[i] < 0x7f && line[i] != ':')
		i++;
	*name_len = i;
	while (i < len && is_wsp(line[i]))
		i++;
	return *name_len > 0 && i < len && line[i] == ':' ? 0 : -1;
}

/* Split the header section header[0..len) (each line ending in CRLF, the
 * empty line excluded) into fields. */
static int parse_header(const char *header, size_t len,
			struct header_field **fields, size_t *count,
			struct strbuf *error)
{
	size_t pos = 0;
	size_t line_number = 0;

	*fields = NULL;
	*count = 0;
	while (pos < len) {
		const char *end = memmem(header + pos, len - pos, "\r\n", 2);
		size_t line_len = end != NULL ? (size_t)(end - (header + pos))
			: len - pos;
		const char *line = header + pos;

		line_number++;
		if (is_wsp(line[0])) {
			/* A continuation line belongs to the field before. */
			if (*count == 0) {
				strbuf_puts(error, "the message starts with "
					    "a continuation line");
				goto fail;
			}
			(*fields)[*count - 1].len = (size_t)(line - (*fields)
				[*count - 1].text) + line_len;
		} else {
			struct header_field field = {line, line_len, 0};

			if (field_name_length(line, line_len,
					      &field.name_len) != 0) {
				strbuf_printf(error, "header line %zu is not "
					      "\"Name: value\"", line_number);
				goto fail;
			}
			*fields = xreallocarray(*fields, *count + 1,
						sizeof(**fields));
			(*fields)[(*count)++] = field;
		}
		pos += line_len + (end != NULL ? 2 : 0);
	}
	return 0;

fail:
	free(*fields);
	*fields = NULL;
	*count = 0;
	return -1;
}

/* Find the only field called name; its index goes to *index, or
 * *index = count when the message has none. More than one is an
 * error. */
static int find_field(const struct header_field *fields, size_t count,
		      const char *name, size_t *index, struct strbuf *error)
{
	size_t name_len = strlen(name);
	size_t found = 0;
	size_t i;

	*index = count;
	for (i = 0; i < count; i++) {
		if (fields[i].name_len != name_len
		    || strncasecmp(fields[i].text, name, name_len) != 0)
			continue;
		*index = i;
		found++;
	}
	if (found > 1) {
		strbuf_printf(error, "the message has %zu %s header fields; "
			      "a signed field may appear only once", found,
			      name);
		return -1;
	}
	return 0;
}

/* Building the DKIM-Signature field. */

/* A writer that folds a header field at the spaces between words. */
struct fold {
	struct strbuf *out;
	size_t column;		/* characters on the current line */
};

/* Append a word, preceded by a space if space_before, or by a fold
 * (CRLF and a tab) when the line would grow beyond DKIM_LINE_MAX. */
static void fold_word(struct fold *fold, const char *word, size_t len,
		      bool space_before)
{
	size_t width = len + (space_before ? 1 : 0);

	if (fold->column + width > DKIM_LINE_MAX && fold->column > 1) {
		strbuf_puts(fold->out, "\r\n\t");
		fold->column = 1;
	} else if (space_before) {
		strbuf_putc(fold->out, ' ');
		fold->column++;
	}
	strbuf_append(fold->out, word, len);
	fold->column += len;
}

static void fold_tag(struct fold *fold, const char *tag)
{
	fold_word(fold, tag, strlen(tag), true);
}

/* Append "h=name:name:...;" with a possible fold before each name, as
 * the h= syntax allows white space around the colons. */
static void fold_header_list(struct fold *fold, const char *const *names,
			     size_t count)
{
	struct strbuf word;
	size_t i;

	strbuf_init(&word);
	for (i = 0; i < count; i++) {
		strbuf_reset(&word);
		strbuf_printf(&word, "%s%s%s", i == 0 ? "h=" : "", names[i],
			      i + 1 < count ? ":" : ";");
		fold_word(fold, word.data, word.len, i == 0);
	}
	strbuf_free(&word);
}

/* Append base64 text as the value of b=, split over lines as needed.
 * "b=" itself is already written. */
static void fold_signature(struct fold *fold, const char *text, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t room = fold->column < DKIM_LINE_MAX
			? DKIM_LINE_MAX - fold->column : 0;
		size_t take;

		if (room == 0) {
			strbuf_puts(fold->out, "\r\n\t");
			fold->column = 1;
			continue;
		}
		take = len - pos < room ? len - pos : room;
		strbuf_append(fold->out, text + pos, take);
		fold->column += take;
		pos += take;
	}
}

static void base64_of(const unsigned char *data, size_t len,
		      struct strbuf *out)
{
	/* One line long enough for the whole value; folding comes later. */
	size_t line_len = (len + 2) / 3 * 4;

	base64_encode_lines(data, len, line_len, "", out);
}

static int sha256(const void *data, size_t len,
		  unsigned char digest[EVP_MAX_MD_SIZE], unsigned *digest_len,
		  struct strbuf *error)
{
	if (EVP_Digest(data, len, digest, digest_len, EVP_sha256(), NULL)
	    != 1) {
		strbuf_puts(error, "cannot compute SHA-256");
		append_openssl_reason(error);
		return -1;
	}
	return 0;
}

static int body_hash(const char *body, size_t len, struct strbuf *bh,
		     struct strbuf *error)
{
	struct strbuf canonical;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned digest_len;
	int status;

	strbuf_init(&canonical);
	dkim_relax_body(body, len, &canonical);
	status = sha256(canonical.data, canonical.len, digest, &digest_len,
			error);
	if (status == 0)
		base64_of(digest, digest_len, bh);
	strbuf_free(&canonical);
	return status;
}

/* Sign data as the signer's algorithm prescribes and append the
 * signature in base64 to b64. */
static int sign_data(const struct dkim_signer *signer, const char *data,
		     size_t len, struct strbuf *b64, struct strbuf *error)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned digest_len;
	const unsigned char *input = (const unsigned char *)data;
	size_t input_len = len;
	const EVP_MD *md = EVP_sha256();
	unsigned char *signature = NULL;
	size_t signature_len = 0;
	int status = -1;

	if (ctx == NULL)
		goto openssl_error;

	/* ed25519-sha256 signs the SHA-256 hash with PureEdDSA, which
	 * takes no digest of its own. */
	if (signer->algorithm == DKIM_ED25519_SHA256) {
		if (sha256(data, len, digest, &digest_len, error) != 0)
			goto done;
		input = digest;
		input_len = digest_len;
		md = NULL;
	}
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, signer->key) != 1
	    || EVP_DigestSign(ctx, NULL, &signature_len, input, input_len)
	    != 1)
		goto openssl_error;
	signature = xmalloc(signature_len);
	if (EVP_DigestSign(ctx, signature, &signature_len, input, input_len)
	    != 1)
		goto openssl_error;
	base64_of(signature, signature_len, b64);
	status = 0;
	goto done;

openssl_error:
	strbuf_printf(error, "cannot make the %s signature",
		      algorithm_name(signer->algorithm));
	append_openssl_reason(error);
done:
	free(signature);
	EVP_MD_CTX_free(ctx);
	return status;
}

/* Find where the body starts: after the first empty line, or at the
 * end of a message that has none. The header section keeps the CRLF of
 * its last line. */
static void split_message(const char *message, size_t len,
			  size_t *header_len, size_t *body_start)
{
	const char *blank;

	if (len >= 2 && message[0] == '\r' && message[1] == '\n') {
		*header_len = 0;
		*body_start = 2;
		return;
	}
	blank = memmem(message, len, "\r\n\r\n", 4);
	if (blank == NULL) {
		*header_len = len;
		*body_start = len;
		return;
	}
	*header_len = (size_t)(blank - message) + 2;
	*body_start = *header_len + 2;
}

/* Choose the fields that h= names. index[i] is the field for names[i],
 * or count for a name that refers to no field. */
static int select_fields(const struct header_field *fields, size_t count,
			 const char *names[SIGNED_FIELD_COUNT + 1],
			 size_t index[SIGNED_FIELD_COUNT + 1],
			 size_t *selected, struct strbuf *error)
{
	size_t i;

	*selected = 0;
	for (i = 0; i < SIGNED_FIELD_COUNT; i++) {
		const struct signed_field *entry = &signed_fields[i];
		size_t found;

		if (find_field(fields, count, entry->name, &found, error)
		    != 0)
			return -1;
		if (found == count && entry->required) {
			strbuf_printf(error, "the message has no %s header "
				      "field, which a report must have",
				      entry->name);
			return -1;
		}
		if (found == count)
			continue;
		names[*selected] = entry->name;
		index[(*selected)++] = found;

		/* From is named twice: the second refers to no field, so a
		 * From added later invalidates the signature. */
		if (i == 0) {
			names[*selected] = entry->name;
			index[(*selected)++] = count;
		}
	}
	return 0;
}

/* Write the DKIM-Signature field up to and including "b=". */
static void write_signature_field(const struct dkim_signer *signer,
				  time_t now, const char *const *names,
				  size_t name_count, const char *bh,
				  struct fold *fold)
{
	const char **lower = xcalloc(name_count, sizeof(*lower));
	char *tag;
	size_t i;

	strbuf_puts(fold->out, "DKIM-Signature:");
	fold->column = strlen("DKIM-Signature:");
	fold_tag(fold, "v=1;");
	tag = xasprintf("a=%s;", algorithm_name(signer->algorithm));
	fold_tag(fold, tag);
	free(tag);
	fold_tag(fold, "c=relaxed/relaxed;");
	tag = xasprintf("d=%s;", signer->domain);
	fold_tag(fold, tag);
	free(tag);
	tag = xasprintf("s=%s;", signer->selector);
	fold_tag(fold, tag);
	free(tag);
	tag = xasprintf("t=%lld;", (long long)now);
	fold_tag(fold, tag);
	free(tag);

	/* Field names in h= are case-insensitive, and lower case is usual. */
	for (i = 0; i < name_count; i++) {
		char *name = xstrdup(names[i]);
		char *p;

		for (p = name; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		lower[i] = name;
	}
	fold_header_list(fold, lower, name_count);
	for (i = 0; i < name_count; i++)
		free((char *)lower[i]);
	free(lower);

	tag = xasprintf("bh=%s;", bh);
	fold_tag(fold, tag);
	free(tag);

	/* Keep some of the signature on the line of "b=". */
	if (fold->column + 3 + DKIM_B_MIN > DKIM_LINE_MAX) {
		strbuf_puts(fold->out, "\r\n\t");
		fold->column = 1;
		fold_word(fold, "b=", 2, false);
	} else {
		fold_tag(fold, "b=");
	}
}

/* Collect the data to sign: each field named in h=, relaxed, then the
 * DKIM-Signature field with empty b=, relaxed, without its CRLF. */
static void signed_data(const struct header_field *fields, size_t count,
			const size_t *index, size_t selected,
			const char *signature_field, size_t signature_len,
			struct strbuf *data)
{
	size_t i;

	for (i = 0; i < selected; i++)
		if (index[i] < count)
			dkim_relax_header(fields[index[i]].text,
					  fields[index[i]].len, data);
	dkim_relax_header(signature_field, signature_len, data);
	strbuf_truncate(data, data->len - 2);
}

int dkim_sign(const struct dkim_signer *signer, const char *message,
	      size_t len, time_t now, struct strbuf *out,
	      struct strbuf *error)
{
	struct header_field *fields = NULL;
	const char *names[SIGNED_FIELD_COUNT + 1];
	size_t index[SIGNED_FIELD_COUNT + 1];
	struct strbuf bh;
	struct strbuf field;
	struct strbuf data;
	struct strbuf b;
	struct fold fold;
	size_t header_len;
	size_t body_start;
	size_t count = 0;
	size_t selected;
	int status = -1;

	strbuf_init(&bh);
	strbuf_init(&field);
	strbuf_init(&data);
	strbuf_init(&b);

	/* Check the message and find the fields to sign. */
	if (check_line_ends(message, len, error) != 0)
		goto done;
	split_message(message, len, &header_len, &body_start);
	if (parse_header(message, header_len, &fields, &count, error) != 0
	    || select_fields(fields, count, names, index, &selected, error)
	    != 0)
		goto done;

	/* Hash the body, then write the field with an empty b=. */
	if (body_hash(message + body_start, len - body_start, &bh, error)
	    != 0)
		goto done;
	fold.out = &field;
	fold.column = 0;
	write_signature_field(signer, now, names, selected, bh.data, &fold);

	/* Sign the header fields and the new field, then fill in b=. */
	signed_data(fields, count, index, selected, field.data, field.len,
		    &data);
	if (sign_data(signer, data.data, data.len, &b, error) != 0)
		goto done;
	fold_signature(&fold, b.data, b.len);
	strbuf_puts(&field, "\r\n");
	strbuf_append(out, field.data, field.len);
	status = 0;

done:
	free(fields);
	strbuf_free(&bh);
	strbuf_free(&field);
	strbuf_free(&data);
	strbuf_free(&b);
	return status;
}

/* Loading the key. */

/* A passphrase callback that refuses: the key must be readable without
 * a person at a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *context)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)context = true;
	return -1;
}

/* Open key_path as a regular file of sane size. */
static FILE *open_key_file(const char *key_path, struct strbuf *error)
{
	struct stat st;
	FILE *fp = fopen(key_path, "r");

	if (fp == NULL) {
		strbuf_printf(error, "cannot open DKIM private key %s: %s",
			      key_path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		strbuf_printf(error, "DKIM private key %s is not a regular "
			      "file", key_path);
		fclose(fp);
		return NULL;
	}
	if (st.st_size > DKIM_KEY_FILE_MAX) {
		strbuf_printf(error, "DKIM private key %s has %lld bytes, more "
			      "than the %d of any PEM key DKIM can use",
			      key_path, (long long)st.st_size,
			      DKIM_KEY_FILE_MAX);
		fclose(fp);
		return NULL;
	}
	return fp;
}

static EVP_PKEY *read_key(const char *key_path, struct strbuf *error)
{
	FILE *fp = open_key_file(key_path, error);
	bool encrypted = false;
	EVP_PKEY *key;

	if (fp == NULL)
		return NULL;
	ERR_clear_error();
	key = PEM_read_PrivateKey(fp, NULL, no_passphrase, &encrypted);
	fclose(fp);
	if (key != NULL)
		return key;
	if (encrypted) {
		strbuf_printf(error, "DKIM private key %s is encrypted; store "
			      "it without a passphrase, readable by root "
			      "only (openssl pkey -in %s -out NEWFILE)",
			      key_path, key_path);
		ERR_clear_error();
	} else {
		strbuf_printf(error, "DKIM private key %s contains no PEM "
			      "private key", key_path);
		append_openssl_reason(error);
	}
	return NULL;
}

/* Choose the algorithm for the key, or reject the key. */
static int key_algorithm(EVP_PKEY *key, const char *key_path,
			 enum dkim_algorithm *algorithm, struct strbuf *error)
{
	if (EVP_PKEY_is_a(key, "ED25519")) {
		*algorithm = DKIM_ED25519_SHA256;
		return 0;
	}
	if (!EVP_PKEY_is_a(key, "RSA")) {
		const char *type = EVP_PKEY_get0_type_name(key);

		strbuf_printf(error, "DKIM private key %s has key type %s; "
			      "DKIM signing needs an RSA or Ed25519 key",
			      key_path, type != NULL ? type : "unknown");
		return -1;
	}
	if (EVP_PKEY_get_bits(key) < DKIM_RSA_MIN_BITS) {
		strbuf_printf(error, "DKIM private key %s is an RSA key of %d "
			      "bits; DKIM needs at least %d (2048 is usual)",
			      key_path, EVP_PKEY_get_bits(key),
			      DKIM_RSA_MIN_BITS);
		return -1;
	}
	*algorithm = DKIM_RSA_SHA256;
	return 0;
}

/* Store name as a lower-case A-label name in *result. */
static int normalise_name(const char *what, const char *name, char **result,
			  struct strbuf *error)
{
	struct strbuf reason;
	int status;

	strbuf_init(&reason);
	status = domain_normalise(name, false, result, &reason);
	if (status != 0)
		strbuf_printf(error, "invalid DKIM %s \"%s\": %s", what, name,
			      reason.data);
	strbuf_free(&reason);
	return status;
}

struct dkim_signer *dkim_signer_load(const char *key_path, const char *domain,
				     const char *selector,
				     struct strbuf *error)
{
	struct dkim_signer *signer = xcalloc(1, sizeof(*signer));

	if (normalise_name("domain", domain, &signer->domain, error) != 0
	    || normalise_name("selector", selector, &signer->selector,
			      error) != 0)
		goto fail;
	signer->key = read_key(key_path, error);
	if (signer->key == NULL
	    || key_algorithm(signer->key, key_path, &signer->algorithm,
			     error) != 0)
		goto fail;
	return signer;

fail:
	dkim_signer_free(signer);
	return NULL;
}

void dkim_signer_free(struct dkim_signer *signer)
{
	if (signer == NULL)
		return;
	EVP_PKEY_free(signer->key);
	free(signer->domain);
	free(signer->selector);
	free(signer);
}

/* Configuration. */

/* Check that domain is submitter or a parent domain of it, and not a
 * top-level domain. Both are normalised names. */
static int check_signing_domain(const char *domain, const char *submitter,
				struct strbuf *error)
{
	size_t domain_len = strlen(domain);
	size_t submitter_len = strlen(submitter);

	if (strchr(domain, '.') == NULL) {
		strbuf_printf(error, "dkim_domain \"%s\" in %s/main.cf is a "
			      "top-level domain; set the report submitter "
			      "domain %s or a parent of it", domain,
			      config_directory(), submitter);
		return -1;
	}
	if (strcmp(domain, submitter) == 0
	    || (submitter_len > domain_len
		&& submitter[submitter_len - domain_len - 1] == '.'
		&& strcmp(submitter + submitter_len - domain_len, domain)
		== 0))
		return 0;
	strbuf_printf(error, "dkim_domain \"%s\" in %s/main.cf is neither the "
		      "report submitter domain %s (from contact_info) nor a "
		      "parent of it; RFC 8460 receivers ignore reports not "
		      "signed by the reporting domain", domain,
		      config_directory(), submitter);
	return -1;
}

int dkim_signer_from_config(const char *submitter,
			    struct dkim_signer **signer,
			    struct strbuf *error)
{
	static const char *const names[] = {
		"dkim_private_key", "dkim_selector", "dkim_domain",
	};
	char *domain = NULL;
	char *normal_submitter = NULL;
	struct strbuf missing;
	size_t set = 0;
	size_t i;
	int status = -1;

	*signer = NULL;
	strbuf_init(&missing);
	for (i = 0; i < 3; i++) {
		if (config_str(names[i])[0] != '\0')
			set++;
		else
			strbuf_printf(&missing, "%s%s", missing.len ? ", " : "",
				      names[i]);
	}
	if (set == 0) {
		status = 0;
		goto done;
	}
	if (set < 3) {
		strbuf_printf(error, "DKIM signing needs dkim_private_key, "
			      "dkim_selector and dkim_domain in %s/main.cf, "
			      "but %s %s not set; set all three, or none to "
			      "send unsigned mail", config_directory(),
			      missing.data, set == 2 ? "is" : "are");
		goto done;
	}

	/* The signer normalises the domain itself; compare in that form. */
	if (normalise_name("domain", config_str("dkim_domain"), &domain,
			   error) != 0
	    || normalise_name("submitter domain", submitter,
			      &normal_submitter, error) != 0
	    || check_signing_domain(domain, normal_submitter, error) != 0)
		goto done;
	*signer = dkim_signer_load(config_str("dkim_private_key"), domain,
				   config_str("dkim_selector"), error);
	status = *signer != NULL ? 1 : -1;

done:
	free(domain);
	free(normal_submitter);
	strbuf_free(&missing);
	return status;
}
