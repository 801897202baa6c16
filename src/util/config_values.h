/*
 * config_values: checks of the configuration beyond its syntax, shared
 * by "tlsrptd check", "tlsrptd start" and "tlsrptd reload", and by the
 * master at start and on reload, so that a value that would stop a worker
 * at its start is caught before the suite runs with it.
 *
 * config_values_check() checks the loaded main.cf: the required
 * parameters and the reporting identity, smtp_tls_security_level (none,
 * may or encrypt), relayhost (relayhost.h), delivery_redirect (empty,
 * file:/ABSOLUTE/DIR or mailto:ADDRESS), report_bcc, sendmail_path (an
 * absolute path of an executable), https_internal_addresses (reject or
 * allow), https_ca_file and smtp_sasl_password_file (existing files when
 * set), the three dkim_* parameters (all or none; with
 * CONFIG_VALUES_LOAD_KEYS and as root the key is loaded and dkim_domain
 * checked against contact_info, as the mailer does),
 * receiver_authorized_users (names that the password database knows)
 * and, as root, receiver_socket_owner and receiver_socket_group (an
 * existing user and group). A file:DIR delivery_redirect that mail_owner
 * cannot write to (as root: by its owner, group and mode bits) is a
 * warning. With CONFIG_VALUES_WARN_EXPOSED, what "tlsrptd check" reports
 * as errors about access by other local users is added as warnings:
 * config_socket_open_to_all() and config_secret_readable_by_all() for
 * dkim_private_key and smtp_sasl_password_file.
 *
 * config_services_check() checks master.cf against daemon_directory:
 * every command must be an executable program there, and master.cf must
 * define a dgram service, without which datagrams are lost. A missing
 * standard service (receiver, aggregator, reporter, mailer, found by its
 * command) is a warning, since the suite runs without it but loses that
 * step, and so is a "-o name=value" whose name no program knows.
 *
 * Both append one message per line to errors and warnings, separated by
 * '\n' without a final newline, so that a caller can print each line with
 * its own prefix; warnings may be NULL. They return 0 when no error was
 * found, else -1. The workers keep their own checks of what they read as
 * the last line of defence.
 */
#ifndef TLSRPTD_CONFIG_VALUES_H
#define TLSRPTD_CONFIG_VALUES_H

#include <stdbool.h>

#include "master_cf.h"
#include "strbuf.h"

/* Flags of config_values_check(): load the DKIM key when running as
 * root; warn about files and the socket that other users can reach. */
#define CONFIG_VALUES_LOAD_KEYS		0x1
#define CONFIG_VALUES_WARN_EXPOSED	0x2

int config_values_check(unsigned flags, struct strbuf *errors,
			struct strbuf *warnings);

/* config_values_check(CONFIG_VALUES_LOAD_KEYS, error, NULL), in the shape
 * that config_load_validated() takes. */
int config_values_validate(struct strbuf *error);

/* Append the problem as a line and return true when every local user may
 * write to the receiver socket and receiver_authorized_users is empty. */
bool config_socket_open_to_all(struct strbuf *problem);

/* Append the problem as a line and return true when the regular file that
 * parameter name sets can be read by every user. */
bool config_secret_readable_by_all(const char *name, struct strbuf *problem);

int config_services_check(const struct master_cf *table,
			  const char *daemon_dir, struct strbuf *errors,
			  struct strbuf *warnings);

#endif
