/*
 * fuzz_http_response: libFuzzer target for the HTTP response head parser
 * that the mailer uses for https: report destinations.
 *
 * The input is what a web server sends. A head that parses is checked
 * for what http_response.h promises: a status code from 100 to 599, no
 * interim response other than 101 returned, a head within the data and
 * within HTTP_HEAD_MAX, and reason and location of printable ASCII. The
 * mailer parses again each time more bytes arrive, so every shorter
 * prefix of a complete head must parse as incomplete, never as invalid
 * or as a different head. A violation aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "http_response.h"

static _Noreturn void broken(const char *problem, int code)
{
	fprintf(stderr, "fuzz_http_response: %s (status %d)\n", problem, code);
	abort();
}

static void check_text(const char *text, int code)
{
	const unsigned char *cursor;

	if (strlen(text) > HTTP_TEXT_MAX)
		broken("kept text longer than HTTP_TEXT_MAX", code);
	for (cursor = (const unsigned char *)text; *cursor != '\0'; cursor++)
		if (*cursor < 0x20 || *cursor > 0x7e)
			broken("kept text not printable ASCII", code);
}

static void check_prefix(const uint8_t *data, size_t len)
{
	struct http_response response;
	const char *error = NULL;

	if (http_response_parse((const char *)data, len, &response, &error) !=
	    HTTP_PARSE_INCOMPLETE)
		broken("a prefix of a complete head is not incomplete",
		       response.status.code);
}

static void check_response(const struct http_response *response,
			   const uint8_t *data, size_t size)
{
	int code = response->status.code;

	if (code < 100 || code > 599 || (code < 200 && code != 101))
		broken("invalid or interim status returned", code);
	if (response->head_len == 0 || response->head_len > size ||
	    response->head_len > HTTP_HEAD_MAX)
		broken("head length outside the data", code);
	check_text(response->status.reason, code);
	check_text(response->location, code);

	/* Two prefixes are enough: the one a byte short, and one that
	 * ends in the middle. */
	check_prefix(data, response->head_len - 1);
	check_prefix(data, response->head_len / 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response response;
	const char *error = NULL;

	switch (
	    http_response_parse((const char *)data, size, &response, &error)) {
	case HTTP_PARSE_DONE:
		check_response(&response, data, size);
		break;
	case HTTP_PARSE_INVALID:
		if (error == NULL)
			abort(); /* a rejection must say why */
		break;
	case HTTP_PARSE_INCOMPLETE:
		break;
	}
	return 0;
}
