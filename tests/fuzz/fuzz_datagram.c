/*
 * fuzz_datagram: libFuzzer target for the receiver's datagram parser.
 *
 * Each input is one datagram as it arrives on the receiver socket. A
 * datagram that datagram_parse() accepts also goes through everything
 * the suite does with it next: the count check, the batch line and
 * the canonical keys the aggregator counts by. Besides the sanitizers, the
 * target checks these properties and aborts when one fails:
 * - a rejection sets dg->error and gives a reason;
 * - the batch line from datagram_line() has no CR or LF, and
 *   datagram_parse() accepts it again with the same canonical keys. The
 *   aggregator parses batch lines with this parser, so a line it
 *   rejected would lose a datagram the receiver accepted;
 * - every canonical key is a JSON object.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagram.h"
#include "fuzz_support.h"
#include "strbuf.h"
#include "xalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	return 0;
}

static _Noreturn void broken(const char *problem, const char *text)
{
	fprintf(stderr, "fuzz_datagram: %s: \"%.300s\"\n", problem, text);
	abort();
}

static void check_object(char *text, const char *problem)
{
	cJSON *tree = cJSON_Parse(text);

	if (!cJSON_IsObject(tree))
		broken(problem, text);
	cJSON_Delete(tree);
}

/* Compare the canonical keys of two datagrams that were both accepted. */
static void compare_keys(const struct datagram *dg,
			 const struct datagram *again)
{
	size_t i;
	size_t j;

	if (dg->policy_count != again->policy_count)
		broken("batch line has another number of policies", dg->domain);
	for (i = 0; i < dg->policy_count; i++) {
		char *key = datagram_policy_key(dg, i);
		char *other = datagram_policy_key(again, i);

		if (strcmp(key, other) != 0)
			broken("batch line gives another policy key", other);
		free(key);
		free(other);
		if (dg->policies[i].detail_count !=
		    again->policies[i].detail_count)
			broken("batch line has another number of details",
			       dg->domain);
		for (j = 0; j < dg->policies[i].detail_count; j++) {
			key = datagram_detail_key(&dg->policies[i].details[j]);
			other =
			    datagram_detail_key(&again->policies[i].details[j]);
			if (strcmp(key, other) != 0)
				broken("batch line gives another detail key",
				       other);
			free(key);
			free(other);
		}
	}
}

/* Parse the batch line of dg as the aggregator does. */
static void check_batch_line(const struct datagram *dg, const uint8_t *data,
			     size_t size)
{
	char *spare = xmalloc(size > 0 ? size : 1);
	const char *line = datagram_line((const char *)data, size, spare);
	struct datagram again;
	struct strbuf reason;

	if (memchr(line, '\n', size) != NULL ||
	    memchr(line, '\r', size) != NULL)
		broken("batch line with a line break", dg->domain);
	strbuf_init(&reason);
	if (datagram_parse(line, size, &again, &reason) != 0)
		broken("batch line rejected", reason.data);
	compare_keys(dg, &again);
	datagram_free(&again);
	strbuf_free(&reason);
	free(spare);
}

/* Run the steps that follow a successful parse in the receiver and the
 * aggregator. */
static void use_datagram(const struct datagram *dg, const uint8_t *data,
			 size_t size)
{
	char *json;
	size_t mismatch;
	size_t i;
	size_t j;

	(void)datagram_detail_count_mismatch(dg, &mismatch);
	check_batch_line(dg, data, size);
	for (i = 0; i < dg->policy_count; i++) {
		const struct datagram_policy *policy = &dg->policies[i];

		json = datagram_policy_key(dg, i);
		check_object(json, "policy key is no object");
		free(json);
		for (j = 0; j < policy->detail_count; j++) {
			json = datagram_detail_key(&policy->details[j]);
			check_object(json, "detail key is no object");
			free(json);
			if (policy->details[j].mx_helo != NULL)
				free(helo_from_reply(
				    policy->details[j].mx_helo));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct datagram dg;
	struct strbuf reason;

	/* The receiver passes the datagram as received, without a
	 * terminating NUL; libFuzzer's buffer has exactly size bytes, so
	 * AddressSanitizer reports a read past its end in our code. */
	strbuf_init(&reason);
	if (datagram_parse((const char *)data, size, &dg, &reason) == 0) {
		use_datagram(&dg, data, size);
	} else {
		if (reason.len == 0 || dg.error == DATAGRAM_VALID)
			broken("rejection without a reason or error class",
			       reason.data);
		(void)datagram_error_name(dg.error);
	}
	datagram_free(&dg);
	strbuf_free(&reason);
	return 0;
}
