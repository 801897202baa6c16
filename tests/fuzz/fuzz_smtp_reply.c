/*
 * fuzz_smtp_reply: libFuzzer target for the SMTP reply parser that the
 * mailer feeds with what a mail server sends.
 *
 * The input is a server's byte stream. It is cut into lines at LF, with
 * a CR before the LF removed, as the mailer reads them, and fed to
 * smtp_reply_add() one reply after the other, as when the mailer reads
 * the replies to pipelined commands. Every complete reply is also read
 * as an EHLO reply. The target aborts if a complete reply breaks what
 * smtp_reply.h promises: a code from 200 to 599 and text of printable
 * ASCII or TAB within SMTP_REPLY_TEXT_MAX bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "smtp_reply.h"

static _Noreturn void broken(const char *problem,
			     const struct smtp_reply *reply)
{
	fprintf(stderr, "fuzz_smtp_reply: %s: code %d, \"%.200s\"\n", problem,
		reply->code, reply->text.data);
	abort();
}

static void check_reply(const struct smtp_reply *reply)
{
	struct smtp_extensions extensions;
	size_t i;

	if (reply->code < 200 || reply->code > 599 || reply->lines == 0)
		broken("complete reply without a valid code", reply);
	if (reply->text.len > SMTP_REPLY_TEXT_MAX)
		broken("reply text longer than SMTP_REPLY_TEXT_MAX", reply);
	for (i = 0; i < reply->text.len; i++) {
		unsigned char c = (unsigned char)reply->text.data[i];

		if (c != '\t' && (c < 0x20 || c > 0x7e))
			broken("reply text not printable ASCII", reply);
	}
	smtp_reply_extensions(reply, &extensions);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct smtp_reply reply;
	size_t offset = 0;

	smtp_reply_init(&reply);
	while (offset < size) {
		const char *newline =
		    memchr(text + offset, '\n', size - offset);
		size_t end = newline != NULL ? (size_t)(newline - text) : size;
		size_t len = end - offset;
		const char *error = NULL;
		enum smtp_reply_state state;

		if (len > 0 && text[offset + len - 1] == '\r')
			len--;
		state = smtp_reply_add(&reply, text + offset, len, &error);
		offset = end + 1;
		if (state == SMTP_REPLY_INVALID) {
			if (error == NULL)
				abort(); /* a rejection must say why */
			break;
		}
		if (state == SMTP_REPLY_DONE) {
			check_reply(&reply);
			smtp_reply_reset(&reply);
		}
	}
	smtp_reply_free(&reply);
	return 0;
}
