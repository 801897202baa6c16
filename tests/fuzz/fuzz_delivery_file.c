/*
 * fuzz_delivery_file: libFuzzer target for report delivery files
 * (outgoing/, deferred/, hold/).
 *
 * A file that delivery_read() accepts goes on to report_mail_build(),
 * which puts its header values into mail headers and decompresses its
 * payload; the addressee is found as the mailer and the preview do. A
 * built message is checked for what report_mail.h promises, and a
 * violation aborts: CRLF line ends only, 7-bit text without NUL, no line
 * longer than 998 characters, and a header block in which every line is
 * a header field or a folded continuation, so a value from the file can
 * never start a header of its own.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "delivery_file.h"
#include "fuzz_support.h"
#include "report_mail.h"
#include "strbuf.h"

#define MAIL_LINE_MAX 998 /* RFC 5322 section 2.1.1 */

static const char main_cf[] = "organization_name = Example Fuzzing Org\n"
			      "contact_info = mailto:tlsrpt@example.net\n"
			      "report_sender = tlsrpt-noreply@example.net\n";

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct strbuf error;
	char *path;

	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	strbuf_init(&error);
	path = fuzz_write_file("main.cf", (const uint8_t *)main_cf,
			       strlen(main_cf));
	if (config_load(fuzz_directory(), &error) != 0) {
		fprintf(stderr, "fuzz_delivery_file: %s\n", error.data);
		abort();
	}
	free(path);
	strbuf_free(&error);
	return 0;
}

static _Noreturn void broken(const char *problem, const char *line)
{
	fprintf(stderr, "fuzz_delivery_file: %s: \"%.200s\"\n", problem, line);
	abort();
}

static bool is_header_start(const char *line, size_t len)
{
	size_t i = 0;

	if (len > 0 && (line[0] == ' ' || line[0] == '\t'))
		return true; /* a folded continuation */
	while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '-'))
		i++;
	return i > 0 && i < len && line[i] == ':';
}

static void check_message(const struct strbuf *message)
{
	const char *line = message->data;
	const char *end = message->data + message->len;
	bool in_header = true;
	size_t i;

	for (i = 0; i < message->len; i++) {
		unsigned char c = (unsigned char)message->data[i];

		if (c == 0 || c > 0x7f)
			broken("byte outside 7-bit text", message->data + i);
		if (c == '\r' &&
		    (i + 1 == message->len || message->data[i + 1] != '\n'))
			broken("bare CR", message->data + i);
		if (c == '\n' && (i == 0 || message->data[i - 1] != '\r'))
			broken("bare LF", message->data + i);
	}
	while (line < end) {
		const char *crlf = strstr(line, "\r\n");
		size_t len =
		    crlf != NULL ? (size_t)(crlf - line) : (size_t)(end - line);

		if (len > MAIL_LINE_MAX)
			broken("line longer than 998 characters", line);
		if (len == 0)
			in_header = false;
		else if (in_header && !is_header_start(line, len))
			broken("header line that is no header field", line);
		line += len + 2;
	}
}

static void build_message(const struct delivery *delivery)
{
	struct strbuf address;
	struct strbuf message;
	struct strbuf error;

	strbuf_init(&address);
	strbuf_init(&message);
	strbuf_init(&error);
	if (report_mail_address(delivery->destination, &address, &error) != 0)
		report_mail_preview_to(delivery, &address);
	strbuf_reset(&error);
	if (report_mail_build(delivery, address.data, "fuzz.1", 1796428800,
			      &message, &error) == 0)
		check_message(&message);
	strbuf_free(&address);
	strbuf_free(&message);
	strbuf_free(&error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_write_file("delivery", data, size);
	struct delivery delivery;
	struct strbuf error;

	strbuf_init(&error);
	if (delivery_read(path, &delivery, &error) == 0) {
		build_message(&delivery);
		delivery_free(&delivery);
	} else if (error.len == 0) {
		abort(); /* every rejection must say why */
	}
	strbuf_free(&error);
	free(path);
	return 0;
}
