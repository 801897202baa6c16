/*
 * https_transport: deliver a report to an https: destination with the
 * settings of main.cf (https_verify, https_internal_addresses,
 * https_connect_timeout, https_timeout) and the CA certificates read at
 * start (https_ca_file).
 */
#include <string.h>

#include "config.h"
#include "https.h"
#include "transport.h"

void transport_https(const struct delivery *delivery, const char *uri,
		     struct attempt *attempt)
{
	struct https_settings settings;
	enum https_status status;

	settings.queue_id = attempt->queue_id;
	settings.tls_context = attempt->keys->https_tls;
	settings.verify = config_bool("https_verify");

	/* Any value but "allow" rejects, in case a worker runs with a value
	 * that the configuration check did not see. */
	settings.reject_internal = strcmp(config_str(
			"https_internal_addresses"), "allow") != 0;
	settings.connect_timeout = config_time("https_connect_timeout");
	settings.timeout = config_time("https_timeout");
	status = https_post(uri, &settings, delivery->payload,
			    delivery->payload_len, &attempt->relay,
			    &attempt->reason);
	attempt->status = status == HTTPS_DELIVERED ? ATTEMPT_SENT
		: status == HTTPS_PERMANENT ? ATTEMPT_BOUNCED
		: ATTEMPT_DEFERRED;
}
