/*
 * days: close UTC days whose counting is over, and expire old ones.
 *
 * A day closes when utc_now() has passed its end (the next 00:00 UTC)
 * plus day_close_delay, and no batch left in incoming/ can hold datagrams
 * of it. Its final summary goes to days/ for the reporter. Days older than
 * keep_days lose their counters once they are closed.
 */
#ifndef TLSRPTD_DAYS_H
#define TLSRPTD_DAYS_H

#include "aggregator.h"
#include "incoming.h"

void days_finish_closing(struct aggregator *agg);
void days_close_due(struct aggregator *agg,
		    const struct incoming_backlog *left);
void days_expire(struct aggregator *agg);
unsigned days_open(struct aggregator *agg);

#endif
