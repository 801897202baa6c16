/*
 * admin_request: ask the running aggregator for a day's counters, for the
 * admin commands ("tlsrptd report", "tlsrptd status --day").
 *
 * Only the aggregator opens the counter database, so a command writes a
 * request file into requests/ (request_file.h), wakes the aggregator with
 * TRIGGER_REQUEST and polls for the answer: a summary file under the
 * request's queue ID in days/ or export/.
 *
 * The caller loads main.cf first. admin_request_enter_queue() changes to
 * queue_directory, and every path after it is relative to the queue
 * directory. Every function prints its own error message on standard
 * error as "tlsrptd: ...", naming what to check next.
 */
#ifndef TLSRPTD_ADMIN_REQUEST_H
#define TLSRPTD_ADMIN_REQUEST_H

#include <stdbool.h>

#include "queue_file.h"
#include "strbuf.h"
#include "summary_file.h"
#include "utc_time.h"

/* How long a command waits for each step of an answer. */
#define ADMIN_REQUEST_WAIT_SECONDS 60

int admin_request_parse_day(const char *text, char day[UTC_DAY_LEN + 1]);
int admin_request_enter_queue(void);
int admin_request_send(const char *day, const char *target,
		       char id[QUEUE_ID_LEN + 1]);
int admin_request_wait(const char *path, bool should_exist, int seconds);
int admin_request_fetch(const char *day, struct summary *summary);

/*
 * Append why day has no counters to reason: "a day in the future",
 * "older than keep_days = N: expired" (the aggregator's rule: before
 * today minus keep_days) or "no datagrams counted that day". Returns 1
 * for the first two, which the day alone explains, else 0.
 */
int admin_request_empty_reason(const char *day, struct strbuf *reason);

#endif
