/*
 * tlsrpt-queue: list the report deliveries waiting in, or done with, the
 * queue, like postqueue -p.
 *
 *	tlsrpt-queue [-c CONFIG_DIR] list [--json]
 *
 * One entry per delivery file in outgoing/, deferred/, hold/, failed/ and
 * sent/: queue ID, state (the directory), payload size, arrival time,
 * attempts, next attempt, destination and last error. The text format is
 * meant for people; --json prints one array of objects with the same
 * fields for scripts. A file that cannot be read is listed with its error
 * instead of being skipped.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "delivery_file.h"
#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

static const char *const states[] = {
	QUEUE_OUTGOING, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_FAILED, QUEUE_SENT,
};

#define STATE_COUNT (sizeof(states) / sizeof(states[0]))

struct listing {
	bool json;
	cJSON *array;
	size_t entries;
	unsigned long long bytes;
};

static void usage(void)
{
	fprintf(stderr, "usage: tlsrpt-queue [-c config_dir] list [--json]\n");
}

static void format_time(time_t when, char out[UTC_TIME_LEN + 1])
{
	if (when == 0)
		snprintf(out, UTC_TIME_LEN + 1, "-");
	else
		utc_time_format(when, out);
}

static void print_text(const char *id, const char *state,
		       const struct delivery *delivery)
{
	char next[UTC_TIME_LEN + 1];

	format_time(delivery->next_attempt, next);
	printf("%-24s %-8s %8zu %-20s %3u %s\n", id, state,
	       delivery->payload_len, delivery->created, delivery->attempts,
	       strcmp(state, QUEUE_SENT) == 0 || strcmp(state, QUEUE_FAILED)
	       == 0 ? "-" : next);
	printf("%26s%s\n", "", delivery->destination);
	if (delivery->last_error[0] != '\0')
		printf("%26s(%s)\n", "", delivery->last_error);
}

static cJSON *entry_json(const char *id, const char *state,
			 const struct delivery *delivery)
{
	cJSON *entry = cJSON_CreateObject();
	char next[UTC_TIME_LEN + 1];

	format_time(delivery->next_attempt, next);
	cJSON_AddStringToObject(entry, "queue_id", id);
	cJSON_AddStringToObject(entry, "state", state);
	cJSON_AddNumberToObject(entry, "size", (double)delivery->payload_len);
	cJSON_AddStringToObject(entry, "arrival_time", delivery->created);
	cJSON_AddNumberToObject(entry, "attempts", delivery->attempts);
	cJSON_AddStringToObject(entry, "next_attempt", next);
	cJSON_AddStringToObject(entry, "destination", delivery->destination);
	cJSON_AddStringToObject(entry, "report_id", delivery->report_id);
	cJSON_AddStringToObject(entry, "report_domain",
				delivery->report_domain);
	cJSON_AddStringToObject(entry, "day", delivery->day);
	cJSON_AddStringToObject(entry, "last_error", delivery->last_error);
	return entry;
}

static void list_unreadable(struct listing *listing, const char *id,
			    const char *state, const char *error)
{
	if (listing->json) {
		cJSON *entry = cJSON_CreateObject();

		cJSON_AddStringToObject(entry, "queue_id", id);
		cJSON_AddStringToObject(entry, "state", state);
		cJSON_AddStringToObject(entry, "error", error);
		cJSON_AddItemToArray(listing->array, entry);
	} else {
		printf("%-24s %-8s unreadable: %s\n", id, state, error);
	}
}

static void list_state(struct listing *listing, const char *state)
{
	struct strbuf error;
	char **names;
	size_t count;
	size_t i;

	if (queue_list(state, &names, &count) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot read %s/%s: %s\n",
			config_str("queue_directory"), state, strerror(errno));
		return;
	}
	strbuf_init(&error);
	for (i = 0; i < count; i++) {
		struct delivery delivery;
		char *path = xasprintf("%s/%s", state, names[i]);

		strbuf_reset(&error);
		if (delivery_read(path, &delivery, &error) != 0) {
			list_unreadable(listing, names[i], state, error.data);
		} else {
			if (listing->json)
				cJSON_AddItemToArray(listing->array,
						     entry_json(names[i], state,
								&delivery));
			else
				print_text(names[i], state, &delivery);
			listing->bytes += delivery.payload_len;
			delivery_free(&delivery);
		}
		listing->entries++;
		free(path);
	}
	strbuf_free(&error);
	queue_list_free(names, count);
}

static int list_command(bool json)
{
	struct listing listing;
	size_t i;

	memset(&listing, 0, sizeof(listing));
	listing.json = json;
	if (json)
		listing.array = cJSON_CreateArray();
	else
		printf("%-24s %-8s %8s %-20s %3s %s\n", "-Queue ID-",
		       "-State-", "-Size-", "-Arrival Time-", "-N-",
		       "-Next Try-");
	for (i = 0; i < STATE_COUNT; i++)
		list_state(&listing, states[i]);
	if (json) {
		char *text = cJSON_Print(listing.array);

		printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(listing.array);
	} else if (listing.entries == 0) {
		printf("Queue is empty\n");
	} else {
		printf("-- %llu bytes in %zu deliveries.\n", listing.bytes,
		       listing.entries);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_dir = default_config_dir();
	struct strbuf error;
	bool json = false;
	int option;
	int i;

	msg_open("tlsrptd", "queue");
	while ((option = getopt(argc, argv, "+c:")) != -1) {
		if (option != 'c') {
			usage();
			return 2;
		}
		config_dir = optarg;
	}
	if (optind >= argc || strcmp(argv[optind], "list") != 0) {
		usage();
		return 2;
	}
	for (i = optind + 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0) {
			usage();
			return 2;
		}
		json = true;
	}
	strbuf_init(&error);
	if (config_load(config_dir, &error) != 0) {
		fprintf(stderr, "tlsrpt-queue: %s; use -c DIR to name the "
			"configuration directory\n", error.data);
		return 1;
	}
	strbuf_free(&error);
	if (chdir(config_str("queue_directory")) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot change to "
			"queue_directory %s: %s\n",
			config_str("queue_directory"), strerror(errno));
		return 1;
	}
	return list_command(json);
}
