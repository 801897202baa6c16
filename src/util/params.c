/*
 * params: every main.cf parameter the suite knows, with its type, default
 * and bounds. This table is the one place a parameter is declared; the
 * manual page of main.cf and conf/main.cf describe the same names.
 */
#include <limits.h>
#include <stddef.h>

#include "config.h"

#define STR(name, def)	{ name, PARAM_STR, def, 0, 0, false }
#define REQUIRED(name)	{ name, PARAM_STR, "", 0, 0, true }
#define INT(name, def, min, max)  { name, PARAM_INT, def, min, max, false }
#define TIME(name, def, min, max) { name, PARAM_TIME, def, min, max, false }
#define SIZE(name, def, min, max) { name, PARAM_SIZE, def, min, max, false }
#define BOOL(name, def)	{ name, PARAM_BOOL, def, 0, 1, false }
#define MODE(name, def)	{ name, PARAM_MODE, def, 0, 07777, false }

#define DAY	86400LL
#define MIB	(1024LL * 1024)

const struct param_def param_table[] = {
	/* Where things are and who runs them. */
	STR("queue_directory", "/var/spool/tlsrptd"),
	STR("daemon_directory", ""),
	STR("mail_owner", "tlsrptd"),
	STR("myhostname", "localhost"),
	STR("syslog_name", "tlsrptd"),
	STR("syslog_facility", "mail"),
	STR("maillog_file", ""),

	/* Master. */
	TIME("service_throttle_time", "60s", 1, DAY),
	TIME("service_restart_delay", "1s", 0, 3600),
	TIME("service_stop_timeout", "10s", 1, 3600),

	/* Receiver. */
	STR("receiver_socket", "/run/tlsrptd/tlsrpt.sock"),
	STR("receiver_socket_owner", "$mail_owner"),
	STR("receiver_socket_group", "postfix"),
	MODE("receiver_socket_mode", "0660"),
	SIZE("receiver_socket_buffer", "8m", 65536, 1024 * MIB),
	TIME("receiver_batch_interval", "1s", 1, 3600),
	INT("receiver_batch_size", "10000", 1, 10000000),
	STR("receiver_authorized_users", ""),
	INT("receiver_corrupt_limit", "1000", 0, 10000000),
	SIZE("receiver_corrupt_size_limit", "100m", 0, 1024LL * 1024 * MIB),

	/* Aggregator. */
	TIME("day_close_delay", "30m", 0, DAY),
	INT("keep_days", "31", 1, 3660),

	/* Reporter. */
	REQUIRED("organization_name"),
	REQUIRED("contact_info"),
	INT("report_max_failure_details", "100", 1, 100000),
	SIZE("report_max_size", "5m", 1024, 100 * MIB),
	BOOL("report_success_only_days", "yes"),

	/* Mailer. */
	STR("report_sender", "$contact_info"),
	STR("report_envelope_sender", "$report_sender"),
	STR("report_bcc", ""),
	STR("relayhost", "[127.0.0.1]:25"),
	STR("sendmail_path", ""),
	STR("delivery_redirect", ""),
	TIME("delivery_spread", "2h", 0, DAY),
	INT("delivery_concurrency", "4", 1, 256),
	TIME("maximal_queue_lifetime", "24h", 0, 30 * DAY),
	TIME("minimal_backoff_time", "300s", 1, DAY),
	TIME("maximal_backoff_time", "4000s", 1, DAY),
	TIME("sent_retention", "7d", 0, 3660 * DAY),
	STR("smtp_helo_name", "$myhostname"),
	TIME("smtp_connect_timeout", "30s", 1, 3600),
	TIME("smtp_timeout", "300s", 1, 3600),
	STR("smtp_tls_security_level", "may"),
	STR("smtp_sasl_username", ""),
	STR("smtp_sasl_password_file", ""),
	STR("dkim_domain", ""),
	STR("dkim_selector", ""),
	STR("dkim_private_key", ""),
	STR("https_ca_file", ""),
	BOOL("https_verify", "yes"),
	STR("https_internal_addresses", "reject"),
	TIME("https_connect_timeout", "30s", 1, 3600),
	TIME("https_timeout", "120s", 1, 3600),
};

const size_t param_count = sizeof(param_table) / sizeof(param_table[0]);
