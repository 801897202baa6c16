/*
 * Unit tests for dkim. Relaxed canonicalisation is checked against
 * hand-made cases and the examples of RFC 6376 section 3.4.5, body hashes
 * against known values, and the verifier below against the signed test
 * messages of RFC 8463 appendix A. Both algorithms are deterministic, so
 * a field signed with the RFC 8463 keys is a known answer. It was checked
 * with python3-dkim when it was recorded. The tags and folding of the
 * field and the errors of key loading, signing and configuration follow.
 *
 * Signatures are checked by a small verifier below that works as a
 * receiver does: it selects the fields named in h=, canonicalises them
 * with dkim_relax_header(), removes the value of b= and verifies with
 * OpenSSL. It is right for the RFC 8463 vectors, which makes it a fair
 * judge of the signer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base64.h"
#include "config.h"
#include "dkim.h"
#include "strbuf.h"
#include "xalloc.h"

#define RFC_TIME	((time_t)1528637909)

/* RFC 8463 appendix A: the message, its keys and its signatures. */
#define RFC_HEADER \
	"From: Joe SixPack <joe@football.example.com>\r\n" \
	"To: Suzie Q <suzie@shopping.example.net>\r\n" \
	"Subject: Is dinner ready?\r\n" \
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" \
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
#define RFC_BODY \
	"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
#define RFC_BODY_HASH	"2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="

static const char rfc_ed25519_seed[] =
	"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char rfc_ed25519_public[] =
	"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rfc_ed25519_signed[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	" subject : date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
	RFC_HEADER "\r\n" RFC_BODY;
static const char rfc_rsa_key[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
	"Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
	"KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
	"AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
	"6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
	"zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
	"6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
	"uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
	"WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
	"WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
	"licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
	"o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
	"uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
	"-----END RSA PRIVATE KEY-----\n";
static const char rfc_rsa_signed[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
	" date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
	RFC_HEADER "\r\n" RFC_BODY;

/* The RFC 8463 message as a report: it gains the two fields that a
 * report must have and the signer requires. */
#define REPORT_HEADER RFC_HEADER \
	"TLS-Report-Domain: shopping.example.net\r\n" \
	"TLS-Report-Submitter: football.example.com\r\n"
static const char report_message[] = REPORT_HEADER "\r\n" RFC_BODY;

/* What dkim_sign() makes of report_message with the RFC 8463 keys at
 * RFC_TIME: recorded from this signer and verified with python3-dkim
 * 1.1.4 against the RFC's public keys. */
static const char ed25519_known_answer[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	"\td=football.example.com; s=brisbane; t=1528637909; "
	"h=from:from:to:subject:\r\n"
	"\tdate:message-id:tls-report-domain:tls-report-submitter;\r\n"
	"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; "
	"b=JUZbuhl5pagywTRQMIR1ANFEk5\r\n"
	"\tOAoFPvFr+6jjRx9k/bq8vmAdPHZFB2czdXLdCeik1qAtKcWIg19khHWay3Dg=="
	"\r\n";
static const char rsa_known_answer[] =
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
	"d=football.example.com;\r\n"
	"\ts=test; t=1528637909; h=from:from:to:subject:date:message-id:"
	"\r\n"
	"\ttls-report-domain:tls-report-submitter;\r\n"
	"\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; "
	"b=BCBholmVIJuGIypNQ+jmumoN3Y\r\n"
	"\tFXFOXOdUn/TjO8MofYuHKgMB9j0+J+TTNrWIkXd02Hb+1YwFkfa3ypfUDK"
	"QXaqfBJu61qVPK+YJOH\r\n"
	"\t8olgtuEj0kk+qm+wpYog4RaTQ1MTMhkeK1DYZe9+OU6VEYNfs8dHl0Cx7Q"
	"IoJQmjAhXo=\r\n";

static char temp_dir[] = "/tmp/test_dkim.XXXXXX";

static char *temp_path(const char *name)
{
	return xasprintf("%s/%s", temp_dir, name);
}

static char *write_temp(const char *name, const char *text)
{
	char *path = temp_path(name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

/* Write key as PEM, encrypted with passphrase unless it is NULL. */
static char *write_key(const char *name, EVP_PKEY *key,
		       const char *passphrase)
{
	char *path = temp_path(name);
	FILE *fp = fopen(path, "w");
	const EVP_CIPHER *cipher = passphrase ? EVP_aes_128_cbc() : NULL;
	int passphrase_len = passphrase ? (int)strlen(passphrase) : 0;

	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, key, cipher,
					      (unsigned char *)passphrase,
					      passphrase_len, NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static EVP_PKEY *rfc_ed25519_key(void)
{
	unsigned char *seed;
	size_t seed_len;
	unsigned char public[32];
	size_t public_len;
	struct strbuf encoded;
	EVP_PKEY *key;

	strbuf_init(&encoded);
	assert_int_equal(base64_decode(rfc_ed25519_seed,
				       strlen(rfc_ed25519_seed), &seed,
				       &seed_len), 0);
	assert_int_equal(seed_len, 32);
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					   seed_len);
	assert_non_null(key);
	free(seed);

	/* The seed must give the public key that the RFC publishes. */
	public_len = sizeof(public);
	assert_int_equal(EVP_PKEY_get_raw_public_key(key, public,
						     &public_len), 1);
	base64_encode_lines(public, public_len, 64, "", &encoded);
	assert_string_equal(encoded.data, rfc_ed25519_public);
	strbuf_free(&encoded);
	return key;
}

static EVP_PKEY *rfc_rsa_key_object(void)
{
	BIO *bio = BIO_new_mem_buf(rfc_rsa_key, -1);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	assert_non_null(key);
	BIO_free(bio);
	return key;
}

static struct dkim_signer *load_signer(const char *path, const char *domain,
				       const char *selector)
{
	struct strbuf error;
	struct dkim_signer *signer;

	strbuf_init(&error);
	signer = dkim_signer_load(path, domain, selector, &error);
	if (signer == NULL)
		fail_msg("cannot load %s: %s", path, error.data);
	strbuf_free(&error);
	return signer;
}

/* Sign text, which must succeed, and return the DKIM-Signature field. */
static char *sign_text(const struct dkim_signer *signer, const char *text,
		       time_t now)
{
	struct strbuf out;
	struct strbuf error;

	strbuf_init(&out);
	strbuf_init(&error);
	if (dkim_sign(signer, text, strlen(text), now, &out, &error) != 0)
		fail_msg("dkim_sign failed: %s", error.data);
	strbuf_free(&error);
	return strbuf_detach(&out, NULL);
}

static char *concat(const char *first, const char *second)
{
	return xasprintf("%s%s", first, second);
}

/* A small verifier, as described at the top. */

struct field {
	const char *text;
	size_t len;
};

/* Split the header section of message into fields. */
static size_t split_fields(const char *message, struct field *fields,
			   size_t max)
{
	const char *end = strstr(message, "\r\n\r\n");
	const char *p = message;
	size_t count = 0;

	assert_non_null(end);
	end += 2;
	while (p < end) {
		const char *line_end = strstr(p, "\r\n");

		if (*p == ' ' || *p == '\t') {
			assert_true(count > 0);
			fields[count - 1].len = (size_t)(line_end - fields
				[count - 1].text);
		} else {
			assert_true(count < max);
			fields[count].text = p;
			fields[count++].len = (size_t)(line_end - p);
		}
		p = line_end + 2;
	}
	return count;
}

/* Store the value of tag in the DKIM-Signature field, all white space
 * removed. */
static void tag_value(const struct field *field, const char *tag,
		      struct strbuf *value)
{
	struct strbuf compact;
	char *item;
	char *saved;
	size_t i;

	strbuf_init(&compact);
	for (i = strlen("DKIM-Signature:"); i < field->len; i++)
		if (strchr(" \t\r\n", field->text[i]) == NULL)
			strbuf_putc(&compact, field->text[i]);
	strbuf_reset(value);
	for (item = strtok_r(compact.data, ";", &saved); item != NULL;
	     item = strtok_r(NULL, ";", &saved))
		if (strncmp(item, tag, strlen(tag)) == 0
		    && item[strlen(tag)] == '=')
			strbuf_puts(value, item + strlen(tag) + 1);
	strbuf_free(&compact);
}

/* Append the DKIM-Signature field with the value of b= removed, relaxed
 * and without its CRLF. */
static void relax_without_b(const struct field *field, struct strbuf *data)
{
	struct strbuf copy;
	size_t i;
	size_t end;

	for (i = 1; i + 1 < field->len; i++) {
		size_t before = i;

		if (field->text[i] != 'b' || field->text[i + 1] != '=')
			continue;
		while (before > 0 && strchr(" \t\r\n", field->text[before - 1]))
			before--;
		if (field->text[before - 1] == ';')
			break;
	}
	assert_true(i + 1 < field->len);
	for (end = i + 2; end < field->len && field->text[end] != ';'; end++)
		;
	strbuf_init(&copy);
	strbuf_append(&copy, field->text, i + 2);
	strbuf_append(&copy, field->text + end, field->len - end);
	dkim_relax_header(copy.data, copy.len, data);
	strbuf_truncate(data, data->len - 2);
	strbuf_free(&copy);
}

/* Append the relaxed fields named in h=, each name taking the last
 * instance not yet taken, as RFC 6376 section 5.4.2 prescribes. */
static void relax_signed_fields(const struct field *fields, size_t count,
				const char *names, struct strbuf *data)
{
	bool used[64] = {false};
	char *list = xstrdup(names);
	char *name;
	char *saved;

	for (name = strtok_r(list, ":", &saved); name != NULL;
	     name = strtok_r(NULL, ":", &saved)) {
		size_t i;

		for (i = count; i-- > 1;) {
			size_t len = strlen(name);

			if (used[i] || fields[i].len <= len
			    || strncasecmp(fields[i].text, name, len) != 0
			    || fields[i].text[len] != ':')
				continue;
			used[i] = true;
			dkim_relax_header(fields[i].text, fields[i].len, data);
			break;
		}
	}
	free(list);
}

static bool verify_data(EVP_PKEY *key, const char *algorithm,
			const struct strbuf *data, const char *b64)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned digest_len;
	unsigned char *signature;
	size_t signature_len;
	int result;

	assert_int_equal(base64_decode(b64, strlen(b64), &signature,
				       &signature_len), 0);
	if (strcmp(algorithm, "ed25519-sha256") == 0) {
		assert_int_equal(EVP_Digest(data->data, data->len, digest,
					    &digest_len, EVP_sha256(), NULL),
				 1);
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL,
						      key), 1);
		result = EVP_DigestVerify(ctx, signature, signature_len,
					  digest, digest_len);
	} else {
		assert_string_equal(algorithm, "rsa-sha256");
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(),
						      NULL, key), 1);
		result = EVP_DigestVerify(ctx, signature, signature_len,
					  (const unsigned char *)data->data,
					  data->len);
	}
	free(signature);
	EVP_MD_CTX_free(ctx);
	return result == 1;
}

/* Verify the first field of message, a DKIM-Signature, with key. */
static bool verify_message(const char *message, EVP_PKEY *key)
{
	struct field fields[64];
	size_t count = split_fields(message, fields, 64);
	const char *body = strstr(message, "\r\n\r\n") + 4;
	struct strbuf value;
	struct strbuf data;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned digest_len;
	char algorithm[32];
	bool valid;

	assert_int_equal(strncasecmp(fields[0].text, "DKIM-Signature:", 15),
			 0);
	strbuf_init(&value);
	strbuf_init(&data);

	/* The body hash first, as a verifier does. */
	dkim_relax_body(body, strlen(body), &data);
	assert_int_equal(EVP_Digest(data.data, data.len, digest, &digest_len,
				    EVP_sha256(), NULL), 1);
	strbuf_reset(&data);
	base64_encode_lines(digest, digest_len, 64, "", &data);
	tag_value(&fields[0], "bh", &value);
	valid = strcmp(value.data, data.data) == 0;

	/* Then the header fields and the signature field itself. */
	strbuf_reset(&data);
	tag_value(&fields[0], "h", &value);
	relax_signed_fields(fields, count, value.data, &data);
	relax_without_b(&fields[0], &data);
	tag_value(&fields[0], "a", &value);
	snprintf(algorithm, sizeof(algorithm), "%s", value.data);
	tag_value(&fields[0], "b", &value);
	valid = valid && verify_data(key, algorithm, &data, value.data);

	strbuf_free(&value);
	strbuf_free(&data);
	return valid;
}

/* Set-up. */

static int make_temp_dir(void **state)
{
	(void)state;
	return mkdtemp(temp_dir) != NULL ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
	char *command = xasprintf("rm -rf '%s'", temp_dir);
	int status = system(command);

	(void)state;
	free(command);
	return status == 0 ? 0 : -1;
}

/* Canonicalisation. */

static void relax_header_cases(void **state)
{
	static const struct {
		const char *field;
		const char *expected;
	} cases[] = {
		{"Subject: Hello World", "subject:Hello World\r\n"},
		{"SUBJECT:Hello", "subject:Hello\r\n"},
		{"TLS-Report-Domain: Example.COM", "tls-report-domain:"
		 "Example.COM\r\n"},
		{"Subject :  a  \t b  \t", "subject:a b\r\n"},
		{"Subject: a\r\n\tb\r\n c", "subject:a b c\r\n"},
		{"Subject:\r\n only folded", "subject:only folded\r\n"},
		{"Subject: end\r\n ", "subject:end\r\n"},
		{"X-Empty:", "x-empty:\r\n"},
		{"X-Empty: \t ", "x-empty:\r\n"},
		{"Subject: a:b ; c", "subject:a:b ; c\r\n"},
		/* RFC 6376 section 3.4.5 */
		{"A: X", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  ", "b:Y Z\r\n"},
	};
	struct strbuf out;
	size_t i;

	(void)state;
	strbuf_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&out);
		dkim_relax_header(cases[i].field, strlen(cases[i].field), &out);
		assert_string_equal(out.data, cases[i].expected);
	}
	strbuf_free(&out);
}

static void relax_body_cases(void **state)
{
	static const struct {
		const char *body;
		const char *expected;
	} cases[] = {
		{"", ""},
		{"\r\n", ""},
		{"\r\n\r\n \r\n\t\r\n", ""},
		{"a", "a\r\n"},
		{"a\r\n", "a\r\n"},
		{"a\r\n\r\n\r\n", "a\r\n"},
		{"a\r\n \r\nb \r\n\r\n", "a\r\n\r\nb\r\n"},
		{"a\t\tb  \t\r\n", "a b\r\n"},
		{"  lead\r\n", " lead\r\n"},
		{"a \r\n\t\r\n", "a\r\n"},
		{"x\r\n\r\ny", "x\r\n\r\ny\r\n"},
		/* RFC 6376 section 3.4.5 */
		{" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
	};
	struct strbuf out;
	size_t i;

	(void)state;
	strbuf_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&out);
		dkim_relax_body(cases[i].body, strlen(cases[i].body), &out);
		assert_int_equal(out.len, strlen(cases[i].expected));
		assert_memory_equal(out.data, cases[i].expected, out.len);
	}
	strbuf_free(&out);
}

/* The bh= of a report whose body is body. */
static char *body_hash_of(const struct dkim_signer *signer, const char *body)
{
	char *message = concat(REPORT_HEADER "\r\n", body);
	char *field = sign_text(signer, message, RFC_TIME);
	struct field parsed = {field, strlen(field) - 2};
	struct strbuf value;

	strbuf_init(&value);
	tag_value(&parsed, "bh", &value);
	free(message);
	free(field);
	return strbuf_detach(&value, NULL);
}

static void body_hash_known_answers(void **state)
{
	/* The empty-body values are those of RFC 4871 erratum 1376. */
	static const struct {
		const char *body;
		const char *hash;
	} cases[] = {
		{RFC_BODY, RFC_BODY_HASH},
		{RFC_BODY "\r\n\r\n", RFC_BODY_HASH},
		{"", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		{"\r\n\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	};
	EVP_PKEY *key = rfc_ed25519_key();
	char *path = write_key("hash.pem", key, NULL);
	struct dkim_signer *signer = load_signer(path, "football.example.com",
						 "brisbane");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hash = body_hash_of(signer, cases[i].body);

		assert_string_equal(hash, cases[i].hash);
		free(hash);
	}

	/* A message without the empty line has an empty body too. */
	{
		char *field = sign_text(signer, REPORT_HEADER, RFC_TIME);

		assert_non_null(strstr(field, "bh=47DEQpj8HBSa+/TImW+5JCeuQe"
				       "Rkm5NMpJWZG3hSuFU="));
		free(field);
	}
	dkim_signer_free(signer);
	EVP_PKEY_free(key);
	free(path);
}

/* The RFC 8463 vectors, checked with this file's verifier. */

static void rfc8463_vectors_verify(void **state)
{
	EVP_PKEY *ed25519 = rfc_ed25519_key();
	EVP_PKEY *rsa = rfc_rsa_key_object();
	char *tampered_ed25519 = xstrdup(rfc_ed25519_signed);
	char *tampered_rsa = xstrdup(rfc_rsa_signed);

	(void)state;
	assert_true(verify_message(rfc_ed25519_signed, ed25519));
	assert_true(verify_message(rfc_rsa_signed, rsa));

	/* The verifier must notice a change, or it proves nothing. */
	memcpy(strstr(tampered_ed25519, "dinner"), "supper", 6);
	memcpy(strstr(tampered_rsa, "hungry"), "thirst", 6);
	assert_false(verify_message(tampered_ed25519, ed25519));
	assert_false(verify_message(tampered_rsa, rsa));

	free(tampered_ed25519);
	free(tampered_rsa);
	EVP_PKEY_free(ed25519);
	EVP_PKEY_free(rsa);
}

/* Signing with the RFC keys: known answers. */

static void check_known_answer(EVP_PKEY *key, const char *selector,
			       const char *expected)
{
	char *path = write_key("known.pem", key, NULL);
	struct dkim_signer *signer = load_signer(path, "football.example.com",
						 selector);
	char *field = sign_text(signer, report_message, RFC_TIME);
	char *signed_message = concat(field, report_message);

	assert_string_equal(field, expected);
	assert_true(verify_message(signed_message, key));

	free(signed_message);
	free(field);
	dkim_signer_free(signer);
	free(path);
}

static void sign_known_answers(void **state)
{
	EVP_PKEY *ed25519 = rfc_ed25519_key();
	EVP_PKEY *rsa = rfc_rsa_key_object();

	(void)state;
	check_known_answer(ed25519, "brisbane", ed25519_known_answer);
	check_known_answer(rsa, "test", rsa_known_answer);
	EVP_PKEY_free(ed25519);
	EVP_PKEY_free(rsa);
}

/* Tags and layout of the field. */

static void sign_tags_present(void **state)
{
	static const char full_header[] =
		"Date: Fri, 04 Dec 2026 00:30:00 +0000\r\n"
		"From: reports@Reports.example.net\r\n"
		"To: tlsrpt@example.com\r\n"
		"Subject: Report Domain: example.com\r\n"
		" Submitter: reports.example.net Report-ID: <a@b>\r\n"
		"Message-ID: <m@reports.example.net>\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		"\tboundary=\"x\"\r\n"
		"Auto-Submitted: auto-generated\r\n"
		"TLS-Report-Domain: example.com\r\n"
		"TLS-Report-Submitter: reports.example.net\r\n"
		"TLS-Required: No\r\n"
		"X-Unsigned: yes\r\n"
		"\r\n"
		"--x\r\n\r\nbody\r\n--x--\r\n";
	EVP_PKEY *key = rfc_ed25519_key();
	char *path = write_key("tags.pem", key, NULL);
	struct dkim_signer *signer = load_signer(path, "Reports.Example.NET.",
						 "TLSRPT");
	char *field = sign_text(signer, full_header, 1796430600);
	struct field parsed = {field, strlen(field) - 2};
	char *signed_message = concat(field, full_header);
	struct strbuf value;

	(void)state;
	strbuf_init(&value);
	tag_value(&parsed, "v", &value);
	assert_string_equal(value.data, "1");
	tag_value(&parsed, "a", &value);
	assert_string_equal(value.data, "ed25519-sha256");
	tag_value(&parsed, "c", &value);
	assert_string_equal(value.data, "relaxed/relaxed");
	tag_value(&parsed, "d", &value);
	assert_string_equal(value.data, "reports.example.net");
	tag_value(&parsed, "s", &value);
	assert_string_equal(value.data, "tlsrpt");
	tag_value(&parsed, "t", &value);
	assert_string_equal(value.data, "1796430600");
	tag_value(&parsed, "h", &value);
	assert_string_equal(value.data, "from:from:to:subject:date:message-id:"
			    "mime-version:content-type:auto-submitted:"
			    "tls-report-domain:tls-report-submitter:"
			    "tls-required");
	tag_value(&parsed, "l", &value);
	assert_int_equal(value.len, 0);
	tag_value(&parsed, "i", &value);
	assert_int_equal(value.len, 0);
	assert_true(verify_message(signed_message, key));

	strbuf_free(&value);
	free(signed_message);
	free(field);
	dkim_signer_free(signer);
	EVP_PKEY_free(key);
	free(path);
}

/* Check that the field is one header field: every line ends in CRLF and
 * fits in 78 characters, and every line after the first starts with a
 * tab. */
static void check_folding(const char *field)
{
	const char *line = field;
	size_t lines = 0;

	assert_int_equal(strncmp(field, "DKIM-Signature: ", 16), 0);
	while (*line != '\0') {
		const char *end = strstr(line, "\r\n");

		assert_non_null(end);
		assert_true(end - line <= 78);
		assert_null(memchr(line, '\n', (size_t)(end - line)));
		assert_null(memchr(line, '\r', (size_t)(end - line)));
		if (lines++ > 0)
			assert_int_equal(line[0], '\t');
		line = end + 2;
	}
	assert_true(lines > 1);
}

static void sign_folds_lines(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	char *path = write_key("fold.pem", key, NULL);
	static const char *const domains[] = {
		"example.net", "a-rather-long-subdomain-name.of-a-reporting."
		"organisation.example.net",
	};
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct dkim_signer *signer = load_signer(path, domains[i],
							 "s2026");
		char *field = sign_text(signer, report_message, RFC_TIME);
		char *signed_message = concat(field, report_message);

		check_folding(field);
		assert_true(verify_message(signed_message, key));
		free(signed_message);
		free(field);
		dkim_signer_free(signer);
	}
	EVP_PKEY_free(key);
	free(path);
}

static void sign_detects_changes(void **state)
{
	EVP_PKEY *key = rfc_ed25519_key();
	char *path = write_key("changes.pem", key, NULL);
	struct dkim_signer *signer = load_signer(path, "football.example.com",
						 "brisbane");
	char *field = sign_text(signer, report_message, RFC_TIME);
	char *added_from = concat(field, "From: <boss@example.com>\r\n"
				  REPORT_HEADER "\r\n" RFC_BODY);
	char *respaced = concat(field, "From:  Joe   SixPack "
				"<joe@football.example.com>  \r\n"
				"To: Suzie Q <suzie@shopping.example.net>\r\n"
				"Subject: Is dinner\r\n ready?\r\n"
				"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)"
				"\r\nMessage-ID: <20030712040037.46341.5F8J"
				"@football.example.com>\r\n"
				"TLS-Report-Domain: shopping.example.net\r\n"
				"TLS-Report-Submitter: football.example.com"
				"\r\n\r\nHi. \r\n\r\nWe lost the game. Are you"
				"\thungry yet?\r\n\r\nJoe.\r\n\r\n\r\n");
	char *changed = concat(field, report_message);

	(void)state;
	memcpy(strstr(changed, "shopping.example.net\r\nTLS"), "shipping", 8);
	assert_true(verify_message(respaced, key));
	assert_false(verify_message(added_from, key));
	assert_false(verify_message(changed, key));

	free(changed);
	free(respaced);
	free(added_from);
	free(field);
	dkim_signer_free(signer);
	EVP_PKEY_free(key);
	free(path);
}

static void sign_rejects_bad_messages(void **state)
{
	static const struct {
		const char *message;
		const char *reason;
	} cases[] = {
		{REPORT_HEADER "\r\nbare\nLF\r\n", "bare LF at offset"},
		{REPORT_HEADER "\r\nbare\rCR\r\n", "bare CR at offset"},
		{"From: a@b\nTo: c@d\r\n\r\n", "bare LF at offset 9"},
		{RFC_HEADER "TLS-Report-Submitter: x.example\r\n\r\nbody\r\n",
		 "no TLS-Report-Domain header field"},
		{RFC_HEADER "TLS-Report-Domain: x.example\r\n\r\nbody\r\n",
		 "no TLS-Report-Submitter header field"},
		{REPORT_HEADER "Subject: again\r\n\r\nbody\r\n",
		 "2 Subject header fields"},
		{REPORT_HEADER "from: <again@example.com>\r\n\r\nbody\r\n",
		 "2 From header fields"},
		{REPORT_HEADER "no colon here\r\n\r\nbody\r\n",
		 "header line 8 is not \"Name: value\""},
		{REPORT_HEADER ": no name\r\n\r\nbody\r\n",
		 "header line 8 is not"},
		{" folded: first\r\n" REPORT_HEADER "\r\nbody\r\n",
		 "starts with a continuation line"},
		{"\r\nbody only\r\n", "no From header field"},
		{"", "no From header field"},
	};
	EVP_PKEY *key = rfc_ed25519_key();
	char *path = write_key("bad.pem", key, NULL);
	struct dkim_signer *signer = load_signer(path, "example.net", "s");
	struct strbuf out;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&out);
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&error);
		assert_int_equal(dkim_sign(signer, cases[i].message,
					   strlen(cases[i].message), RFC_TIME,
					   &out, &error), -1);
		if (strstr(error.data, cases[i].reason) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].reason);
		assert_int_equal(out.len, 0);
	}
	strbuf_free(&out);
	strbuf_free(&error);
	dkim_signer_free(signer);
	EVP_PKEY_free(key);
	free(path);
}

/* Loading keys. */

static void expect_load_error(const char *path, const char *domain,
			      const char *selector, const char *reason)
{
	struct strbuf error;

	strbuf_init(&error);
	assert_null(dkim_signer_load(path, domain, selector, &error));
	if (strstr(error.data, reason) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", error.data, reason);
	strbuf_free(&error);
}

static void load_rejects_bad_files(void **state)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	EVP_PKEY *good = rfc_ed25519_key();
	char *missing = temp_path("missing.pem");
	char *ec_path = write_key("ec.pem", ec, NULL);
	char *small_path = write_key("small.pem", small, NULL);
	char *encrypted = write_key("encrypted.pem", good, "passphrase");
	char *good_path = write_key("good.pem", good, NULL);
	char *garbage = write_temp("garbage.pem", "not a key\n");
	char *empty = write_temp("empty.pem", "");
	char *public_path = temp_path("public.pem");
	FILE *fp = fopen(public_path, "w");

	(void)state;
	assert_non_null(fp);
	assert_int_equal(PEM_write_PUBKEY(fp, good), 1);
	fclose(fp);

	expect_load_error(missing, "example.net", "s",
			  "cannot open DKIM private key");
	expect_load_error(missing, "example.net", "s", "missing.pem: No such "
			  "file or directory");
	expect_load_error(temp_dir, "example.net", "s", "is not a regular "
			  "file");
	expect_load_error(garbage, "example.net", "s", "contains no PEM "
			  "private key");
	expect_load_error(empty, "example.net", "s", "contains no PEM "
			  "private key");
	expect_load_error(public_path, "example.net", "s", "contains no PEM "
			  "private key");
	expect_load_error(encrypted, "example.net", "s", "is encrypted");
	expect_load_error(ec_path, "example.net", "s", "has key type EC");
	expect_load_error(small_path, "example.net", "s", "RSA key of 512 "
			  "bits; DKIM needs at least 1024");
	expect_load_error(good_path, "exa mple.net", "s", "invalid DKIM "
			  "domain \"exa mple.net\"");
	expect_load_error(good_path, "example.net", "a..b", "invalid DKIM "
			  "selector \"a..b\"");

	/* Root reads files whatever their mode. */
	if (geteuid() != 0) {
		assert_int_equal(chmod(good_path, 0), 0);
		expect_load_error(good_path, "example.net", "s",
				  "Permission denied");
	}

	free(missing);
	free(ec_path);
	free(small_path);
	free(encrypted);
	free(good_path);
	free(garbage);
	free(empty);
	free(public_path);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
	EVP_PKEY_free(good);
}

/* Configuration. */

static int load_config(const char *lines, struct strbuf *error)
{
	char *path = write_temp("main.cf", lines);
	int status = config_load(temp_dir, error);

	free(path);
	return status;
}

static void from_config_cases(void **state)
{
	EVP_PKEY *key = rfc_ed25519_key();
	char *key_path = write_key("config.pem", key, NULL);
	static const struct {
		const char *settings;
		int status;
		const char *reason;	/* NULL: no error */
	} cases[] = {
		{"", 0, NULL},
		{"dkim_domain = reports.example.net\n", -1,
		 "but dkim_private_key, dkim_selector are not set"},
		{"dkim_domain = reports.example.net\n"
		 "dkim_selector = s\n", -1, "but dkim_private_key is not set"},
		{"dkim_domain = reports.example.net\n"
		 "dkim_selector = s\ndkim_private_key = KEY\n", 1, NULL},
		{"dkim_domain = Example.NET.\n"
		 "dkim_selector = s\ndkim_private_key = KEY\n", 1, NULL},
		{"dkim_domain = other.example\n"
		 "dkim_selector = s\ndkim_private_key = KEY\n", -1,
		 "dkim_domain \"other.example\" in "},
		{"dkim_domain = ample.net\n"
		 "dkim_selector = s\ndkim_private_key = KEY\n", -1,
		 "is neither the report submitter domain "
		 "reports.example.net"},
		{"dkim_domain = net\n"
		 "dkim_selector = s\ndkim_private_key = KEY\n", -1,
		 "is a top-level domain"},
		{"dkim_domain = example.net\n"
		 "dkim_selector = s\ndkim_private_key = KEY.absent\n", -1,
		 "cannot open DKIM private key"},
	};
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_signer *signer = NULL;
		char *settings = xstrdup(cases[i].settings);
		char *key_at = strstr(settings, "KEY");
		char *text;
		int status;

		if (key_at != NULL) {
			*key_at = '\0';
			text = xasprintf("%s%s%s", settings, key_path,
					 key_at + 3);
		} else {
			text = xstrdup(settings);
		}
		strbuf_reset(&error);
		assert_int_equal(load_config(text, &error), 0);
		status = dkim_signer_from_config("reports.example.net",
						 &signer, &error);
		if (status != cases[i].status)
			fail_msg("case %zu: status %d, expected %d: %s", i,
				 status, cases[i].status, error.data);
		assert_int_equal(signer != NULL, status == 1);
		if (cases[i].reason != NULL
		    && strstr(error.data, cases[i].reason) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].reason);
		/* Each message names main.cf or the key, both in temp_dir. */
		if (cases[i].reason != NULL)
			assert_non_null(strstr(error.data, temp_dir));
		dkim_signer_free(signer);
		free(settings);
		free(text);
		config_free();
	}
	strbuf_free(&error);
	EVP_PKEY_free(key);
	free(key_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relax_header_cases),
		cmocka_unit_test(relax_body_cases),
		cmocka_unit_test(body_hash_known_answers),
		cmocka_unit_test(rfc8463_vectors_verify),
		cmocka_unit_test(sign_known_answers),
		cmocka_unit_test(sign_tags_present),
		cmocka_unit_test(sign_folds_lines),
		cmocka_unit_test(sign_detects_changes),
		cmocka_unit_test(sign_rejects_bad_messages),
		cmocka_unit_test(load_rejects_bad_files),
		cmocka_unit_test(from_config_cases),
	};

	return cmocka_run_group_tests(tests, make_temp_dir, remove_temp_dir);
}
