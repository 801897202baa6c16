/*
 * requests: answer the administrator's requests in requests/.
 *
 * Each request (request_file.h) names a day and a target directory. The
 * answer is a summary of every counter the store holds for that day,
 * "preview" while the day is open and "final" once it is closed (empty
 * when nothing was counted), committed as days/<ID> or export/<ID> under
 * the request's queue ID. The request is removed after the summary is
 * committed; a summary that exists already answered the request before a
 * restart. A malformed request is logged with its ID and removed. The
 * caller counts incoming/ first, so the answer includes every batch that
 * was waiting.
 */
#ifndef TLSRPTD_REQUESTS_H
#define TLSRPTD_REQUESTS_H

#include "aggregator.h"

void requests_process(struct aggregator *agg);

#endif
