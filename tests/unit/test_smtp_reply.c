/*
 * Unit tests for the SMTP reply parser: single and multi-line replies,
 * malformed and oversized replies, and the EHLO extensions the client
 * uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp_reply.h"

/* Feed lines to a fresh reply; return the state after the last one. */
static enum smtp_reply_state feed(struct smtp_reply *reply,
				  const char *const *lines, size_t count,
				  const char **error)
{
	enum smtp_reply_state state = SMTP_REPLY_MORE;
	size_t i;

	smtp_reply_reset(reply);
	*error = NULL;
	for (i = 0; i < count; i++) {
		state = smtp_reply_add(reply, lines[i], strlen(lines[i]),
				       error);
		if (state != SMTP_REPLY_MORE)
			break;
	}
	return state;
}

static void single_line_reply(void **state)
{
	static const char *const lines[] = { "250 2.0.0 Ok: queued" };
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 1, &error), SMTP_REPLY_DONE);
	assert_int_equal(reply.code, 250);
	assert_int_equal(reply.lines, 1);
	assert_string_equal(reply.text.data, "250 2.0.0 Ok: queued");
	smtp_reply_free(&reply);
}

static void bare_code_reply(void **state)
{
	static const char *const lines[] = { "354" };
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 1, &error), SMTP_REPLY_DONE);
	assert_int_equal(reply.code, 354);
	smtp_reply_free(&reply);
}

static void multi_line_reply(void **state)
{
	static const char *const lines[] = {
		"452-4.3.1 Insufficient system storage",
		"452-",
		"452 4.3.1 Try again later",
	};
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(smtp_reply_add(&reply, lines[0], strlen(lines[0]),
					&error), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_add(&reply, lines[1], strlen(lines[1]),
					&error), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_add(&reply, lines[2], strlen(lines[2]),
					&error), SMTP_REPLY_DONE);
	assert_int_equal(reply.code, 452);
	assert_int_equal(reply.lines, 3);
	assert_string_equal(reply.text.data,
			    "452-4.3.1 Insufficient system storage 452- "
			    "452 4.3.1 Try again later");
	smtp_reply_free(&reply);
}

static void malformed_replies_rejected(void **state)
{
	static const char *const bad[] = {
		"", "25", "199 too low", "600 too high", "2x0 letters",
		"250x no separator", "hello there", " 250 leading space",
		"250\tTab separator",
	};
	struct smtp_reply reply;
	const char *error;
	size_t i;

	(void)state;
	smtp_reply_init(&reply);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_reset(&reply);
		error = NULL;
		assert_int_equal(smtp_reply_add(&reply, bad[i], strlen(bad[i]),
						&error), SMTP_REPLY_INVALID);
		assert_string_equal(error, "malformed reply");
	}
	smtp_reply_free(&reply);
}

static void code_change_rejected(void **state)
{
	static const char *const lines[] = { "250-first", "251 second" };
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 2, &error), SMTP_REPLY_INVALID);
	assert_string_equal(error, "malformed reply");
	smtp_reply_free(&reply);
}

static void control_characters_rejected(void **state)
{
	static const char line[] = "250 a\rb";
	struct smtp_reply reply;
	const char *error = NULL;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(smtp_reply_add(&reply, line, sizeof(line) - 1,
					&error), SMTP_REPLY_INVALID);
	assert_string_equal(error, "control character in reply");

	smtp_reply_reset(&reply);
	assert_int_equal(smtp_reply_add(&reply, "250 a\0b", 7, &error),
			 SMTP_REPLY_INVALID);
	smtp_reply_free(&reply);
}

static void eight_bit_text_replaced(void **state)
{
	static const char line[] = "250 caf\xc3\xa9\tok";
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(smtp_reply_add(&reply, line, sizeof(line) - 1,
					&error), SMTP_REPLY_DONE);
	assert_string_equal(reply.text.data, "250 caf??\tok");
	smtp_reply_free(&reply);
}

static void overlong_line_rejected(void **state)
{
	size_t len = SMTP_REPLY_LINE_MAX + 1;
	char *line = malloc(len);
	struct smtp_reply reply;
	const char *error = NULL;

	(void)state;
	assert_non_null(line);
	memset(line, 'x', len);
	memcpy(line, "250 ", 4);
	smtp_reply_init(&reply);
	assert_int_equal(smtp_reply_add(&reply, line, len, &error),
			 SMTP_REPLY_INVALID);
	assert_string_equal(error, "reply line too long");
	smtp_reply_free(&reply);
	free(line);
}

static void overlong_reply_rejected(void **state)
{
	char line[1001];
	struct smtp_reply reply;
	enum smtp_reply_state result = SMTP_REPLY_MORE;
	const char *error = NULL;
	unsigned i;

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_reply_init(&reply);
	for (i = 0; i < 1000 && result == SMTP_REPLY_MORE; i++)
		result = smtp_reply_add(&reply, line, sizeof(line), &error);
	assert_int_equal(result, SMTP_REPLY_INVALID);
	assert_string_equal(error, "reply too long");
	assert_true(reply.text.len <= SMTP_REPLY_TEXT_MAX);
	smtp_reply_free(&reply);
}

static void ehlo_extensions_found(void **state)
{
	static const char *const lines[] = {
		"250-mx.example.net Hello",
		"250-PIPELINING",
		"250-SIZE 10240000",
		"250-starttls",
		"250-AUTH CRAM-MD5 login Plain",
		"250 8BITMIME",
	};
	struct smtp_extensions ext;
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 6, &error), SMTP_REPLY_DONE);
	smtp_reply_extensions(&reply, &ext);
	assert_true(ext.starttls);
	assert_true(ext.auth_plain);
	assert_true(ext.auth_login);
	smtp_reply_free(&reply);
}

static void ehlo_old_auth_form(void **state)
{
	static const char *const lines[] = {
		"250-mx.example.net",
		"250-AUTH=LOGIN",
		"250 AUTH CRAM-MD5",
	};
	struct smtp_extensions ext;
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 3, &error), SMTP_REPLY_DONE);
	smtp_reply_extensions(&reply, &ext);
	assert_false(ext.starttls);
	assert_false(ext.auth_plain);
	assert_true(ext.auth_login);
	smtp_reply_free(&reply);
}

/* The first line greets; words in it are no extensions, and keywords
 * only count whole. */
static void ehlo_greeting_not_extension(void **state)
{
	static const char *const lines[] = {
		"250-STARTTLS",
		"250-STARTTLSX",
		"250-XAUTH PLAIN",
		"250 AUTH PLAINLY LOGINS",
	};
	struct smtp_extensions ext;
	struct smtp_reply reply;
	const char *error;

	(void)state;
	smtp_reply_init(&reply);
	assert_int_equal(feed(&reply, lines, 4, &error), SMTP_REPLY_DONE);
	smtp_reply_extensions(&reply, &ext);
	assert_false(ext.starttls);
	assert_false(ext.auth_plain);
	assert_false(ext.auth_login);
	smtp_reply_free(&reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_line_reply),
		cmocka_unit_test(bare_code_reply),
		cmocka_unit_test(multi_line_reply),
		cmocka_unit_test(malformed_replies_rejected),
		cmocka_unit_test(code_change_rejected),
		cmocka_unit_test(control_characters_rejected),
		cmocka_unit_test(eight_bit_text_replaced),
		cmocka_unit_test(overlong_line_rejected),
		cmocka_unit_test(overlong_reply_rejected),
		cmocka_unit_test(ehlo_extensions_found),
		cmocka_unit_test(ehlo_old_auth_form),
		cmocka_unit_test(ehlo_greeting_not_extension),
	};

	return cmocka_run_group_tests_name("smtp_reply", tests, NULL, NULL);
}
