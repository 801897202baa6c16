/*
 * tlsrpt-queue: inspect and change the report deliveries in the queue,
 * like postqueue -p, postcat and postsuper.
 *
 *	tlsrpt-queue [-c CONFIG_DIR] list [--json]
 *	tlsrpt-queue [-c CONFIG_DIR] show ID
 *	tlsrpt-queue [-c CONFIG_DIR] delete | hold | release | requeue
 *		ID ... | ALL [QUEUE] | -
 *
 * list: one entry per delivery file in outgoing/, deferred/, hold/,
 * failed/ and sent/: queue ID, state (the directory), payload size,
 * arrival time, attempts, next attempt, destination and last error. The
 * text format is meant for people; --json prints one array of objects
 * with the same fields for scripts. A file that cannot be read is listed
 * with its error instead of being skipped. A delivery that the mailer
 * moves while the listing runs is listed once (queue_listing.h).
 *
 * show: the delivery file's header as stored, a blank line, then the
 * report, gunzipped and pretty-printed.
 *
 * Changes take queue IDs as arguments, "ALL" for every delivery the
 * change applies to (optionally only those in QUEUE, e.g. "ALL
 * deferred"), or "-" to read IDs from standard input, one per line:
 *
 *	delete	remove from outgoing/, deferred/, hold/, failed/ or sent/
 *	hold	move from outgoing/ or deferred/ to hold/; the mailer leaves
 *		it alone
 *	release	move from hold/ to deferred/, due now; the attempts made so
 *		far still count towards maximal_queue_lifetime
 *	requeue	move from deferred/, failed/ or hold/ to outgoing/ as a new
 *		delivery: attempts, first attempt and last error are reset,
 *		so the lifetime starts again (postsuper -r)
 *
 * Moves never overwrite a file (queue_move()). After release or requeue
 * the mailer gets a wakeup. Each change is logged as "ID: ..." with the
 * program name "queue" to the mail log, so a change needs write access to
 * maillog_file when that is set. list and show only read the queue, and
 * they log their own problems to standard error. Each problem goes to
 * standard error, and the command ends with a count: "tlsrpt-queue:
 * deleted 3 deliveries".
 *
 * main.cf is read in the relaxed mode (config.h): an invalid value is a
 * warning and that parameter keeps its default, so that a typo does not
 * lock the administrator out of the queue. --help or -h prints the usage
 * on standard output.
 *
 * Security: started by root, the command changes to mail_owner before it
 * touches the queue (worker_jail()), so the files it writes belong to the
 * suite and it cannot be used to reach outside the queue.
 *
 * Concurrency: the mailer holds an exclusive flock() on a delivery file
 * while it delivers it. A change takes the same lock first and skips a
 * locked file ("being delivered; try again later"), and a rewritten file
 * stays locked until it has moved, so the mailer never delivers a file
 * that this command is changing.
 *
 * Exit status: 0 on success, 1 when a named ID was not found or could not
 * be changed, 2 for a usage error.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "config.h"
#include "delivery_file.h"
#include "gzip.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_listing.h"
#include "strbuf.h"
#include "trigger.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

#define REPORT_MAX_JSON	(64 * 1024 * 1024)	/* bytes of a shown report */
#define ID_LINE_MAX	256			/* bytes of a line on stdin */

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

enum change_kind { CHANGE_DELETE, CHANGE_HOLD, CHANGE_RELEASE,
	CHANGE_REQUEUE };

/* A change: its command word, the directories it takes files from and
 * the one it moves them to. */
struct change {
	const char *verb;		/* the command word */
	const char *sources[6];		/* NULL-terminated */
	const char *target;		/* NULL for delete */
	const char *done;		/* the summary's verb, before the count */
	const char *after;		/* the summary's words after "deliveries" */
	enum change_kind kind;
};

static const struct change changes[] = {
	{"delete", {QUEUE_OUTGOING, QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_FAILED,
		    QUEUE_SENT, NULL},
	 NULL, "deleted", "", CHANGE_DELETE},
	{"hold", {QUEUE_OUTGOING, QUEUE_DEFERRED, NULL}, QUEUE_HOLD,
	 "placed", " on hold", CHANGE_HOLD},
	{"release", {QUEUE_HOLD, NULL}, QUEUE_DEFERRED,
	 "released", "", CHANGE_RELEASE},
	{"requeue", {QUEUE_DEFERRED, QUEUE_FAILED, QUEUE_HOLD, NULL},
	 QUEUE_OUTGOING, "requeued", "", CHANGE_REQUEUE},
};

struct tally {
	size_t changed;
	size_t failed;		/* named IDs not found or not changed */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: tlsrpt-queue [-c config_dir] list [--json]\n"
		"       tlsrpt-queue [-c config_dir] show ID\n"
		"       tlsrpt-queue [-c config_dir] delete|hold|release|"
		"requeue ID...|ALL [QUEUE]|-\n");
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

/* Print one delivery, or its error when it cannot be read. */
static void list_one(struct listing *listing, const char *id,
		     const char *state)
{
	struct delivery delivery;
	struct strbuf error;
	char *path = xasprintf("%s/%s", state, id);

	strbuf_init(&error);
	if (delivery_read(path, &delivery, &error) != 0) {
		list_unreadable(listing, id, state, error.data);
	} else {
		if (listing->json)
			cJSON_AddItemToArray(listing->array,
					     entry_json(id, state, &delivery));
		else
			print_text(id, state, &delivery);
		listing->bytes += delivery.payload_len;
		delivery_free(&delivery);
	}
	listing->entries++;
	strbuf_free(&error);
	free(path);
}

/* The file names of every state directory, each with its state. */
struct names {
	char **names[STATE_COUNT];
	size_t counts[STATE_COUNT];
	struct queue_listing_item *items;
	size_t count;
};

static void read_names(struct names *all)
{
	size_t i, j;

	memset(all, 0, sizeof(*all));
	for (i = 0; i < STATE_COUNT; i++) {
		if (queue_list(states[i], &all->names[i], &all->counts[i])
		    != 0) {
			fprintf(stderr, "tlsrpt-queue: cannot read %s/%s: %s\n",
				config_str("queue_directory"), states[i],
				strerror(errno));
			all->names[i] = NULL;
			all->counts[i] = 0;
		}
		all->count += all->counts[i];
	}
	all->items = xcalloc(all->count + 1, sizeof(*all->items));
	all->count = 0;
	for (i = 0; i < STATE_COUNT; i++)
		for (j = 0; j < all->counts[i]; j++) {
			/* Other names are no deliveries, and one with a line
			 * break could forge a line of the listing. */
			if (!queue_id_valid(all->names[i][j]))
				continue;
			all->items[all->count].id = all->names[i][j];
			all->items[all->count].state = states[i];
			all->count++;
		}
}

static void free_names(struct names *all)
{
	size_t i;

	for (i = 0; i < STATE_COUNT; i++)
		if (all->names[i] != NULL)
			queue_list_free(all->names[i], all->counts[i]);
	free(all->items);
}

static bool file_exists(const char *state, const char *id)
{
	char *path = xasprintf("%s/%s", state, id);
	bool found = access(path, F_OK) == 0;

	free(path);
	return found;
}

static const char *find_state(const char *id);

static int list_command(bool json)
{
	struct listing listing;
	struct names all;
	size_t i;

	memset(&listing, 0, sizeof(listing));
	listing.json = json;
	if (json)
		listing.array = cJSON_CreateArray();
	else
		printf("%-24s %-8s %8s %-20s %3s %s\n", "-Queue ID-",
		       "-State-", "-Size-", "-Arrival Time-", "-N-",
		       "-Next Try-");

	/* Take the names first, so that a delivery that moved between two
	 * directories while they were read is listed once. */
	read_names(&all);
	queue_listing_dedupe(all.items, all.count, file_exists);
	for (i = 0; i < all.count; i++) {
		const struct queue_listing_item *item = &all.items[i];
		const char *state = item->state;

		if (item->duplicate)
			continue;

		/* A file that moved since is shown where it is now; one
		 * that is gone (delivered and expired, deleted) is not. */
		if (!file_exists(state, item->id)) {
			state = find_state(item->id);
			if (state == NULL)
				continue;
		}
		list_one(&listing, item->id, state);
	}
	free_names(&all);

	if (json) {
		char *text = cJSON_Print(listing.array);

		printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(listing.array);
	} else if (listing.entries == 0) {
		printf("Queue is empty\n");
	} else {
		printf("-- %llu bytes in %zu deliver%s.\n", listing.bytes,
		       listing.entries, listing.entries == 1 ? "y" : "ies");
	}
	return 0;
}

/* The state directory that contains id, or NULL. */
static const char *find_state(const char *id)
{
	size_t i;

	for (i = 0; i < STATE_COUNT; i++) {
		char *path = xasprintf("%s/%s", states[i], id);
		bool found = access(path, F_OK) == 0;

		free(path);
		if (found)
			return states[i];
	}
	return NULL;
}

static int check_id(const char *id)
{
	if (queue_id_valid(id))
		return 0;
	fprintf(stderr, "tlsrpt-queue: invalid queue ID \"%s\": expected %d "
		"hexadecimal digits as shown by \"tlsrpt-queue list\"\n", id,
		QUEUE_ID_LEN);
	return -1;
}

/* Print text, replacing control characters other than newline and tab. */
static void print_printable(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		putchar(c < 0x20 && c != '\n' && c != '\t' ? '?'
			: c == 0x7f ? '?' : c);
	}
}

/* Print the header lines of a delivery file, up to the blank line. */
static int show_header(const char *path)
{
	char *text;
	size_t len;
	char *end;

	if (queue_read_file(path, DELIVERY_MAX_FILE, &text, &len) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot read %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	end = strstr(text, "\n\n");
	print_printable(text, end != NULL ? (size_t)(end - text) + 1 : len);
	free(text);
	return 0;
}

/* Print the gunzipped report, pretty-printed when it is valid JSON. */
static int show_report(const char *id, const struct delivery *delivery)
{
	char *json;
	size_t len;
	cJSON *report;

	if (gzip_decompress(delivery->payload, delivery->payload_len,
			    REPORT_MAX_JSON, &json, &len) != 0) {
		fprintf(stderr, "tlsrpt-queue: %s: the report is not valid gzip "
			"data or is larger than %d bytes\n", id,
			REPORT_MAX_JSON);
		return -1;
	}
	report = cJSON_ParseWithLength(json, len);
	if (report == NULL) {
		fprintf(stderr, "tlsrpt-queue: %s: the report is not valid "
			"JSON; showing it as stored\n", id);
		print_printable(json, len);
		putchar('\n');
	} else {
		char *pretty = cJSON_Print(report);

		printf("%s\n", pretty);
		cJSON_free(pretty);
		cJSON_Delete(report);
	}
	free(json);
	return report != NULL ? 0 : -1;
}

static int show_command(const char *id)
{
	const char *state;
	struct delivery delivery;
	struct strbuf error;
	char *path;
	int status = 1;

	if (check_id(id) != 0)
		return 1;
	state = find_state(id);
	if (state == NULL) {
		fprintf(stderr, "tlsrpt-queue: %s: no such delivery in the "
			"queue\n", id);
		return 1;
	}
	path = xasprintf("%s/%s", state, id);
	strbuf_init(&error);
	if (delivery_read(path, &delivery, &error) != 0) {
		fprintf(stderr, "tlsrpt-queue: %s: invalid delivery file %s/%s:"
			" %s\n", id, config_str("queue_directory"), path,
			error.data);
	} else {
		printf("state: %s\n", state);
		if (show_header(path) == 0) {
			putchar('\n');
			status = show_report(id, &delivery) == 0 ? 0 : 1;
		}
		delivery_free(&delivery);
	}
	strbuf_free(&error);
	free(path);
	return status;
}

/*
 * Store a changed delivery as dir/id in one step: write it under tmp/,
 * lock it, then rename it over the old file. The new file stays locked
 * until the caller closes *lock, so that the mailer cannot start to
 * deliver it before it has moved on. Returns 0, or -1 with errno set.
 */
static int rewrite(const struct delivery *delivery, const char *dir,
		   const char *id, int *lock)
{
	char *staged_name = xasprintf("queue.%s.next", id);
	char *staged = xasprintf("%s/%s", QUEUE_TMP, staged_name);
	char *target = xasprintf("%s/%s", dir, id);
	int status = -1;
	int saved;

	*lock = -1;
	unlink(staged);
	if (delivery_write(delivery, "queue", QUEUE_TMP, staged_name,
			   NULL) != 0)
		goto done;
	*lock = open(staged, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (*lock < 0 || flock(*lock, LOCK_EX) != 0
	    || rename(staged, target) != 0) {
		saved = errno;
		unlink(staged);
		errno = saved;
		goto done;
	}
	status = queue_fsync_dir(dir);

done:
	saved = errno;
	if (status != 0 && *lock >= 0) {
		close(*lock);
		*lock = -1;
	}
	free(staged_name);
	free(staged);
	free(target);
	errno = saved;
	return status;
}

/* Reset the retry state for release (due now) or requeue (new); *lock
 * holds the new file locked. */
static int reset_delivery(const struct change *change, const char *dir,
			  const char *id, int *lock, struct strbuf *error)
{
	char *path = xasprintf("%s/%s", dir, id);
	struct delivery delivery;
	int status;

	*lock = -1;
	status = delivery_read(path, &delivery, error);
	free(path);
	if (status != 0)
		return -1;
	delivery.next_attempt = utc_now();
	if (change->kind == CHANGE_REQUEUE) {
		delivery.attempts = 0;
		delivery.first_attempt = 0;
		free(delivery.last_error);
		delivery.last_error = xstrdup("");
	}
	status = rewrite(&delivery, dir, id, lock);
	if (status != 0)
		strbuf_printf(error, "cannot rewrite %s/%s: %s", dir, id,
			      strerror(errno));
	delivery_free(&delivery);
	return status;
}

/* Apply the change to dir/id, holding an exclusive lock on the file. */
static int change_file(const struct change *change, const char *dir,
		       const char *id, struct strbuf *error)
{
	char *path = xasprintf("%s/%s", dir, id);
	/* O_NONBLOCK: a FIFO in the queue must not block the open. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int new_lock = -1;
	int status = -1;

	if (fd < 0) {
		strbuf_printf(error, "cannot open %s: %s", path,
			      strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		strbuf_printf(error, "%s is being delivered; try again later",
			      path);
		goto done;
	}
	if (change->kind == CHANGE_DELETE) {
		status = unlink(path) == 0 ? queue_fsync_dir(dir) : -1;
		if (status != 0)
			strbuf_printf(error, "cannot remove %s: %s", path,
				      strerror(errno));
		goto done;
	}
	if ((change->kind == CHANGE_RELEASE || change->kind == CHANGE_REQUEUE)
	    && reset_delivery(change, dir, id, &new_lock, error) != 0)
		goto done;
	status = queue_move(dir, id, change->target);
	if (status != 0)
		strbuf_printf(error, "cannot move %s to %s/: %s", path,
			      change->target, errno == EEXIST
			      ? "a delivery with this ID is already there"
			      : strerror(errno));

done:
	if (new_lock >= 0)
		close(new_lock);
	close(fd);
	free(path);
	return status;
}

static void log_change(const struct change *change, const char *dir,
		       const char *id)
{
	switch (change->kind) {
	case CHANGE_DELETE:
		msg_info("%s: removed from %s/", id, dir);
		break;
	case CHANGE_HOLD:
		msg_info("%s: placed on hold (from %s/)", id, dir);
		break;
	case CHANGE_RELEASE:
		msg_info("%s: released from hold to %s/", id, change->target);
		break;
	case CHANGE_REQUEUE:
		msg_info("%s: requeued from %s/ to %s/", id, dir,
			 change->target);
		break;
	}
}

static bool is_source(const struct change *change, const char *dir)
{
	size_t i;

	for (i = 0; change->sources[i] != NULL; i++)
		if (strcmp(change->sources[i], dir) == 0)
			return true;
	return false;
}

/* Change one file found in dir; count the outcome. */
static void change_one(const struct change *change, const char *dir,
		       const char *id, bool named, struct tally *tally)
{
	struct strbuf error;

	strbuf_init(&error);
	if (change_file(change, dir, id, &error) == 0) {
		log_change(change, dir, id);
		tally->changed++;
	} else {
		fprintf(stderr, "tlsrpt-queue: %s: %s\n", id, error.data);
		msg_warn("%s: %s %s", id, change->verb, error.data);
		if (named)
			tally->failed++;
	}
	strbuf_free(&error);
}

/* Change the delivery with this ID, wherever the change applies. */
static void change_id(const struct change *change, const char *id,
		      struct tally *tally)
{
	const char *state;

	if (check_id(id) != 0) {
		tally->failed++;
		return;
	}
	state = find_state(id);
	if (state == NULL) {
		fprintf(stderr, "tlsrpt-queue: %s: no such delivery in the "
			"queue\n", id);
		tally->failed++;
	} else if (!is_source(change, state)) {
		fprintf(stderr, "tlsrpt-queue: %s: the delivery is in %s/, "
			"which \"%s\" does not apply to\n", id, state,
			change->verb);
		tally->failed++;
	} else {
		change_one(change, state, id, true, tally);
	}
}

/* Change every delivery in the source directories, or only in only. */
static void change_all(const struct change *change, const char *only,
		       struct tally *tally)
{
	size_t i, j;

	for (i = 0; change->sources[i] != NULL; i++) {
		const char *dir = change->sources[i];
		char **names;
		size_t count;

		if (only != NULL && strcmp(only, dir) != 0)
			continue;
		if (queue_list(dir, &names, &count) != 0) {
			fprintf(stderr, "tlsrpt-queue: cannot read %s/%s: %s\n",
				config_str("queue_directory"), dir,
				strerror(errno));
			tally->failed++;
			continue;
		}
		for (j = 0; j < count; j++)
			if (queue_id_valid(names[j]))
				change_one(change, dir, names[j], false, tally);
		queue_list_free(names, count);
	}
}

static void change_stdin(const struct change *change, struct tally *tally)
{
	char line[ID_LINE_MAX];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *id = line + strspn(line, " \t");

		id[strcspn(id, " \t\r\n")] = '\0';
		if (id[0] != '\0')
			change_id(change, id, tally);
	}
}

static const struct change *find_change(const char *verb)
{
	size_t i;

	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		if (strcmp(changes[i].verb, verb) == 0)
			return &changes[i];
	return NULL;
}

static bool is_state(const char *name)
{
	size_t i;

	for (i = 0; i < STATE_COUNT; i++)
		if (strcmp(states[i], name) == 0)
			return true;
	return false;
}

/* Explain that change does not apply to queue, and list the queues. */
static void print_sources(const struct change *change, const char *queue)
{
	struct strbuf sources;
	struct strbuf all;
	size_t i;

	strbuf_init(&sources);
	strbuf_init(&all);
	for (i = 0; change->sources[i] != NULL; i++)
		strbuf_printf(&sources, "%s%s", i > 0 ? ", " : "",
			      change->sources[i]);
	for (i = 0; i < STATE_COUNT; i++)
		strbuf_printf(&all, "%s%s", i > 0 ? ", " : "", states[i]);
	if (is_state(queue))
		fprintf(stderr, "tlsrpt-queue: \"%s ALL %s\": %s does not "
			"apply to %s/; it applies to %s\n", change->verb,
			queue, change->verb, queue, sources.data);
	else
		fprintf(stderr, "tlsrpt-queue: \"%s ALL %s\": unknown queue "
			"\"%s\"; the queues are %s, and %s applies to %s\n",
			change->verb, queue, queue, all.data, change->verb,
			sources.data);
	strbuf_free(&sources);
	strbuf_free(&all);
}

/* Check "ALL [QUEUE]"; returns 0 and sets *only, or prints an error. */
static int parse_all(const struct change *change, int argc, char **argv,
		     const char **only)
{
	*only = NULL;
	if (argc > 2) {
		usage(stderr);
		return -1;
	}
	if (argc == 2) {
		if (!is_source(change, argv[1])) {
			print_sources(change, argv[1]);
			return -1;
		}
		*only = argv[1];
	}
	return 0;
}

static int change_command(const struct change *change, int argc, char **argv)
{
	struct tally tally = { 0, 0 };
	const char *only;
	int i;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "ALL") == 0) {
		if (parse_all(change, argc, argv, &only) != 0)
			return 2;
		change_all(change, only, &tally);
	} else if (strcmp(argv[0], "-") == 0 && argc == 1) {
		change_stdin(change, &tally);
	} else {
		for (i = 0; i < argc; i++)
			change_id(change, argv[i], &tally);
	}

	if (tally.changed > 0 && change->target != NULL
	    && change->kind != CHANGE_HOLD
	    && trigger_send("mailer", TRIGGER_WAKEUP) != 0 && msg_verbose)
		msg_info("cannot wake the mailer (%s); it sees the change at "
			 "its next scan", strerror(errno));
	printf("tlsrpt-queue: %s %zu deliver%s%s\n", change->done,
	       tally.changed, tally.changed == 1 ? "y" : "ies", change->after);
	return tally.failed > 0 ? 1 : 0;
}

/* Load main.cf in the relaxed mode; the -c hint only when main.cf itself
 * cannot be read. */
static int load_config(const char *config_dir)
{
	char *main_cf = xasprintf("%s/main.cf", config_dir);
	struct strbuf warnings;
	struct strbuf error;
	const char *line;
	int status = 0;

	if (access(main_cf, R_OK) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot open %s: %s; use -c DIR "
			"to name the configuration directory\n", main_cf,
			strerror(errno));
		free(main_cf);
		return -1;
	}
	free(main_cf);
	strbuf_init(&warnings);
	strbuf_init(&error);
	if (config_load_relaxed(config_dir, &warnings, &error) != 0) {
		fprintf(stderr, "tlsrpt-queue: %s\n", error.data);
		status = -1;
	}
	for (line = warnings.data; *line != '\0';) {
		size_t len = strcspn(line, "\n");

		fprintf(stderr, "tlsrpt-queue: warning: %.*s\n", (int)len,
			line);
		line += len + (line[len] == '\n');
	}
	strbuf_free(&warnings);
	strbuf_free(&error);
	return status;
}

/* Log to where the suite logs, so that changes are on record; list and
 * show only read and keep their messages on standard error. */
static int open_log(bool will_change)
{
	const char *file = config_str("maillog_file");

	msg_open(config_str("syslog_name"), "queue");
	if (!will_change) {
		msg_to_stderr();
	} else if (file[0] == '\0') {
		msg_to_syslog(config_str("syslog_facility"));
	} else if (msg_to_file(file) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot write maillog_file %s "
			"(needed to log queue changes): %s; run as root or as "
			"mail_owner %s\n", file, strerror(errno),
			config_str("mail_owner"));
		return -1;
	}
	return 0;
}

/* Load main.cf, open the log, and become mail_owner in the queue. */
static int enter_queue(const char *config_dir, bool will_change)
{
	struct worker jail;

	if (load_config(config_dir) != 0)
		return -1;
	if (geteuid() == 0 && getpwnam(config_str("mail_owner")) == NULL) {
		fprintf(stderr, "tlsrpt-queue: mail_owner account \"%s\" not "
			"found\n", config_str("mail_owner"));
		return -1;
	}
	if (access(config_str("queue_directory"), X_OK) != 0) {
		fprintf(stderr, "tlsrpt-queue: cannot change to "
			"queue_directory %s: %s\n",
			config_str("queue_directory"), strerror(errno));
		return -1;
	}
	if (open_log(will_change) != 0)
		return -1;
	memset(&jail, 0, sizeof(jail));
	worker_jail(&jail);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config_dir = default_config_dir();
	const struct change *change;
	const char *verb;
	int option;

	msg_open("tlsrptd", "queue");
	while ((option = getopt_long(argc, argv, "+c:vh", long_options,
				     NULL)) != -1) {
		if (option == 'c') {
			config_dir = optarg;
		} else if (option == 'v') {
			msg_verbose++;
		} else if (option == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	verb = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	change = find_change(verb);
	if (change == NULL && strcmp(verb, "list") != 0
	    && strcmp(verb, "show") != 0) {
		fprintf(stderr, "tlsrpt-queue: unknown command \"%s\"\n", verb);
		usage(stderr);
		return 2;
	}
	if ((strcmp(verb, "list") == 0 && (argc > 1 || (argc == 1
	     && strcmp(argv[0], "--json") != 0)))
	    || (strcmp(verb, "show") == 0 && argc != 1)) {
		usage(stderr);
		return 2;
	}
	if (enter_queue(config_dir, change != NULL) != 0)
		return 1;
	if (strcmp(verb, "list") == 0)
		return list_command(argc == 1);
	if (strcmp(verb, "show") == 0)
		return show_command(argv[0]);
	return change_command(change, argc, argv);
}
