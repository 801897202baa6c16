/*
 * keys: the DKIM key, the SMTP AUTH password and the TLS contexts, read
 * before the mailer drops privileges (see keys.h).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "keys.h"
#include "msg.h"
#include "queue_file.h"
#include "report.h"
#include "tls.h"
#include "xalloc.h"

/* The parameters whose files keys_load() reads. */
static const char *const key_parameters[] = {
	"dkim_private_key", "dkim_selector", "dkim_domain", "contact_info",
	"smtp_sasl_username", "smtp_sasl_password_file", "https_ca_file",
};

static char *describe_parameters(void)
{
	struct strbuf text;
	size_t i;

	strbuf_init(&text);
	for (i = 0; i < sizeof(key_parameters) / sizeof(key_parameters[0]);
	     i++)
		strbuf_printf(&text, "%s=%s\n", key_parameters[i],
			      config_str(key_parameters[i]));
	return strbuf_detach(&text, NULL);
}

/* Read the first line of path as the password. */
static int read_password(const char *path, char **password,
			 struct strbuf *error)
{
	struct stat st;
	char *data;
	size_t len;

	if (queue_read_file(path, KEYS_PASSWORD_FILE_MAX, &data, &len) != 0) {
		strbuf_printf(error, "cannot read smtp_sasl_password_file %s: "
			      "%s", path, errno == EFBIG ? "file too large"
			      : errno == ELOOP ? "it is a symbolic link; name "
			      "the file itself" : strerror(errno));
		return -1;
	}
	len = strcspn(data, "\r\n");
	if (len == 0 || memchr(data, '\0', len) != NULL) {
		strbuf_printf(error, "smtp_sasl_password_file %s has no "
			      "password on its first line", path);
		OPENSSL_cleanse(data, strlen(data));
		free(data);
		return -1;
	}
	*password = xstrndup(data, len);
	OPENSSL_cleanse(data, strlen(data));
	free(data);

	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH) != 0)
		msg_warn("smtp_sasl_password_file %s is readable by every "
			 "user; make it readable by root only (chmod 600)",
			 path);
	return 0;
}

static int load_password(struct mailer_keys *keys, struct strbuf *error)
{
	const char *user = config_str("smtp_sasl_username");
	const char *path = config_str("smtp_sasl_password_file");

	if (user[0] == '\0') {
		if (path[0] != '\0')
			msg_warn("smtp_sasl_password_file is set, but "
				 "smtp_sasl_username is empty; SMTP AUTH is "
				 "not used");
		return 0;
	}
	if (path[0] == '\0') {
		strbuf_printf(error, "smtp_sasl_username is set, but "
			      "smtp_sasl_password_file is empty; set it in "
			      "%s/main.cf", config_directory());
		return -1;
	}
	return read_password(path, &keys->sasl_password, error);
}

/* The DKIM signer for the submitter domain, the domain of contact_info. */
static int load_dkim(struct mailer_keys *keys, struct strbuf *error)
{
	struct report_identity identity;
	int status;

	if (report_identity_from_config(&identity, error) != 0)
		return -1;
	status = dkim_signer_from_config(identity.submitter, &keys->dkim,
					 error);
	report_identity_free(&identity);
	return status < 0 ? -1 : 0;
}

int keys_load(struct mailer_keys *keys, struct strbuf *error)
{
	memset(keys, 0, sizeof(*keys));
	keys->smtp_tls = tls_context_smtp(error);
	if (keys->smtp_tls == NULL)
		goto fail;
	keys->https_tls = tls_context_https(config_str("https_ca_file"),
					    error);
	if (keys->https_tls == NULL) {
		strbuf_printf(error, "; fix https_ca_file in %s/main.cf",
			      config_directory());
		goto fail;
	}
	if (load_password(keys, error) != 0 || load_dkim(keys, error) != 0)
		goto fail;
	keys->loaded_with = describe_parameters();
	return 0;

fail:
	keys_free(keys);
	return -1;
}

void keys_check_reload(const struct mailer_keys *keys)
{
	char *now = describe_parameters();

	if (strcmp(now, keys->loaded_with) != 0)
		msg_warn("a DKIM, SMTP AUTH or HTTPS CA setting changed; the "
			 "mailer keeps the keys it read at start until it is "
			 "restarted (tlsrptd stop; tlsrptd start)");
	free(now);
}

void keys_free(struct mailer_keys *keys)
{
	SSL_CTX_free(keys->smtp_tls);
	SSL_CTX_free(keys->https_tls);
	dkim_signer_free(keys->dkim);
	if (keys->sasl_password != NULL) {
		OPENSSL_cleanse(keys->sasl_password,
				strlen(keys->sasl_password));
		free(keys->sasl_password);
	}
	free(keys->loaded_with);
	memset(keys, 0, sizeof(*keys));
}
