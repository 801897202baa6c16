/*
 * transport: the ways a report leaves the mailer, one function per
 * destination scheme. Each makes one attempt and fills in a struct
 * attempt, and deliver.c decides what the outcome means for the queue
 * file.
 */
#ifndef TLSRPTD_TRANSPORT_H
#define TLSRPTD_TRANSPORT_H

#include <time.h>

#include "delivery_file.h"
#include "keys.h"
#include "strbuf.h"

enum attempt_status {
	ATTEMPT_SENT,
	ATTEMPT_DEFERRED,	/* temporary failure: retry later */
	ATTEMPT_BOUNCED,	/* permanent failure: give up now */
};

/* One delivery attempt: its input, then its outcome. */
struct attempt {
	const char *queue_id;
	unsigned number;	/* 1 for the first attempt */
	time_t now;		/* the suite's clock, utc_now() */
	const struct mailer_keys *keys;
	enum attempt_status status;
	struct strbuf relay;	/* "host[address]:port", "file" or "none" */
	struct strbuf reason;	/* the server's reply or the error */
};

void transport_mailto(const struct delivery *delivery, const char *uri,
		      struct attempt *attempt);
void transport_https(const struct delivery *delivery, const char *uri,
		     struct attempt *attempt);
void transport_file(const struct delivery *delivery, const char *uri,
		    struct attempt *attempt);

/* Set the outcome of an attempt with a printf-style reason. */
void attempt_set(struct attempt *attempt, enum attempt_status status,
		 const char *format, ...) __attribute__((format(printf, 3, 4)));

/*
 * Build the report message for to_address into message, DKIM-signed
 * when a key is configured. Returns 0, or -1 with the outcome set in
 * attempt (bounced for a report that cannot become a message, deferred
 * when signing fails).
 */
int transport_build_message(const struct delivery *delivery,
			    const char *to_address, struct attempt *attempt,
			    struct strbuf *message);

#endif
