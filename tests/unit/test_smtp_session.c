/*
 * Unit tests for the SMTP client session against a scripted server on
 * 127.0.0.1 in a child process. They cover dot-stuffing of a text part
 * whose lines start with '.', the blind copy, and the settings that must
 * stop a session before MAIL FROM: AUTH without TLS, and TLS required
 * but not offered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtp.h"
#include "strbuf.h"

/* A report message whose text part has lines that start with '.'. */
static const char dotted_message[] =
	"From: tlsrpt@reports.example.net\r\n"
	"To: tlsrpt@example.com\r\n"
	"Subject: dots\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	".leading dot\r\n"
	"..two dots\r\n"
	".\r\n"
	"middle . dot\r\n"
	"--b--\r\n";

/* A server run: the replies it sends in order, what it received. */
struct server {
	pid_t pid;
	unsigned port;
	int transcript;		/* read end: every byte the client sent */
};

static void send_text(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len > 0) {
		ssize_t written = write(fd, text, len);

		if (written <= 0)
			_exit(2);
		text += written;
		len -= (size_t)written;
	}
}

/* Read one line (up to LF) into line. Returns its length, 0 at EOF. */
static size_t read_line(int fd, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		char c;

		if (read(fd, &c, 1) != 1)
			break;
		line[len++] = c;
		if (c == '\n')
			break;
	}
	line[len] = '\0';
	return len;
}

/* In the child: greet with replies[0], then reply to each command line
 * with the next entry. After a 354 reply, the message up to the final
 * "." is read before the next reply. */
static _Noreturn void serve(int listener, const char *const *replies,
			    int transcript)
{
	int conn = accept(listener, NULL, NULL);
	char line[4096];
	size_t i;

	if (conn < 0)
		_exit(2);
	send_text(conn, replies[0]);
	for (i = 1; replies[i] != NULL; i++) {
		size_t len = read_line(conn, line, sizeof(line));

		if (len == 0)
			break;
		send_text(transcript, line);
		if (strncmp(replies[i - 1], "354", 3) == 0) {
			while (strcmp(line, ".\r\n") != 0) {
				if (read_line(conn, line, sizeof(line)) == 0)
					_exit(2);
				send_text(transcript, line);
			}
		}
		send_text(conn, replies[i]);
	}

	/* Keep what the client sends after the script, such as QUIT. */
	while (read_line(conn, line, sizeof(line)) > 0)
		send_text(transcript, line);
	_exit(0);
}

static void server_start(struct server *server, const char *const *replies)
{
	struct sockaddr_in address;
	socklen_t len = sizeof(address);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	int pipe_fds[2];

	assert_true(listener >= 0);
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(listener, (struct sockaddr *)&address,
			      sizeof(address)), 0);
	assert_int_equal(listen(listener, 1), 0);
	assert_int_equal(getsockname(listener, (struct sockaddr *)&address,
				     &len), 0);
	server->port = ntohs(address.sin_port);
	assert_int_equal(pipe(pipe_fds), 0);

	server->pid = fork();
	assert_true(server->pid >= 0);
	if (server->pid == 0) {
		close(pipe_fds[0]);
		serve(listener, replies, pipe_fds[1]);
	}
	close(listener);
	close(pipe_fds[1]);
	server->transcript = pipe_fds[0];
}

/* Wait for the server and return everything it received. */
static void server_finish(struct server *server, struct strbuf *received)
{
	char buffer[4096];
	ssize_t got;
	int status;

	while ((got = read(server->transcript, buffer, sizeof(buffer))) > 0)
		strbuf_append(received, buffer, (size_t)got);
	close(server->transcript);
	assert_int_equal(waitpid(server->pid, &status, 0), server->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct client {
	struct relayhost relay;
	struct smtp_settings settings;
	struct smtp_envelope envelope;
	struct strbuf peer, reason, bcc_error;
	struct smtp_outcome outcome;
};

static void client_init(struct client *client, unsigned port)
{
	char relay[64];
	struct strbuf error;

	memset(client, 0, sizeof(*client));
	snprintf(relay, sizeof(relay), "[127.0.0.1]:%u", port);
	strbuf_init(&error);
	assert_int_equal(relayhost_parse(relay, &client->relay, &error), 0);
	strbuf_free(&error);
	client->settings.helo_name = "client.example.net";
	client->settings.connect_timeout = 5;
	client->settings.timeout = 5;
	client->settings.tls_level = SMTP_TLS_NONE;
	client->settings.queue_id = "TEST";
	client->envelope.sender = "bounces@reports.example.net";
	client->envelope.recipient = "tlsrpt@example.com";
	strbuf_init(&client->peer);
	strbuf_init(&client->reason);
	strbuf_init(&client->bcc_error);
	client->outcome.peer = &client->peer;
	client->outcome.reason = &client->reason;
	client->outcome.bcc_error = &client->bcc_error;
}

static enum smtp_status client_send(struct client *client,
				    const char *message)
{
	return smtp_send(&client->relay, &client->settings, &client->envelope,
			 message, strlen(message), &client->outcome);
}

static void client_free(struct client *client)
{
	relayhost_free(&client->relay);
	strbuf_free(&client->peer);
	strbuf_free(&client->reason);
	strbuf_free(&client->bcc_error);
}

/* Undo dot-stuffing of DATA content that ends with ".\r\n". */
static void unstuff(const char *data, struct strbuf *out)
{
	const char *line = data;

	while (*line != '\0' && strncmp(line, ".\r\n", 3) != 0) {
		const char *end = strstr(line, "\r\n");

		assert_non_null(end);
		if (line[0] == '.')
			line++;
		strbuf_append(out, line, (size_t)(end + 2 - line));
		line = end + 2;
	}
}

static void dot_stuff_function(void **state)
{
	static const char input[] = "a\r\n.b\r\n..c\r\n.\r\nbare\nlast";
	struct strbuf out;

	(void)state;
	strbuf_init(&out);
	smtp_dot_stuff(input, sizeof(input) - 1, &out);
	assert_string_equal(out.data, "a\r\n..b\r\n...c\r\n..\r\nbare\r\n"
			    "last\r\n.\r\n");
	strbuf_free(&out);
}

static void dotted_text_part_delivered(void **state)
{
	static const char *const replies[] = {
		"220 mx.example.net ESMTP\r\n",
		"250-mx.example.net\r\n250 PIPELINING\r\n",
		"250 2.1.0 Ok\r\n",
		"250 2.1.5 Ok\r\n",
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		"250 2.0.0 Ok: queued as DOTS\r\n",
		"221 2.0.0 Bye\r\n",
		NULL,
	};
	struct server server;
	struct client client;
	struct strbuf received, content;
	const char *data;

	(void)state;
	server_start(&server, replies);
	client_init(&client, server.port);
	assert_int_equal(client_send(&client, dotted_message), SMTP_DELIVERED);
	assert_string_equal(client.reason.data, "250 2.0.0 Ok: queued as DOTS");
	strbuf_init(&received);
	server_finish(&server, &received);

	/* On the wire every line that starts with '.' has one more. */
	data = strstr(received.data, "DATA\r\n");
	assert_non_null(data);
	data += strlen("DATA\r\n");
	assert_non_null(strstr(data, "\r\n..leading dot\r\n"));
	assert_non_null(strstr(data, "\r\n...two dots\r\n"));
	assert_non_null(strstr(data, "\r\n..\r\nmiddle . dot\r\n"));
	assert_non_null(strstr(data, "--b--\r\n.\r\nQUIT\r\n"));

	strbuf_init(&content);
	unstuff(data, &content);
	assert_string_equal(content.data, dotted_message);
	strbuf_free(&content);
	strbuf_free(&received);
	client_free(&client);
}

static void rejected_bcc_still_delivered(void **state)
{
	static const char *const replies[] = {
		"220 mx.example.net ESMTP\r\n",
		"250 mx.example.net\r\n",
		"250 2.1.0 Ok\r\n",
		"250 2.1.5 Ok\r\n",
		"550 5.1.1 <copy@reports.example.net>: no such user\r\n",
		"354 go ahead\r\n",
		"250 2.0.0 Ok: queued\r\n",
		"221 2.0.0 Bye\r\n",
		NULL,
	};
	struct server server;
	struct client client;
	struct strbuf received;

	(void)state;
	server_start(&server, replies);
	client_init(&client, server.port);
	client.envelope.bcc = "copy@reports.example.net";
	assert_int_equal(client_send(&client, dotted_message), SMTP_DELIVERED);
	assert_non_null(strstr(client.bcc_error.data, "550 5.1.1"));
	strbuf_init(&received);
	server_finish(&server, &received);
	assert_non_null(strstr(received.data,
			       "RCPT TO:<tlsrpt@example.com>\r\n"
			       "RCPT TO:<copy@reports.example.net>\r\n"
			       "DATA\r\n"));
	strbuf_free(&received);
	client_free(&client);
}

static void auth_never_in_plain_text(void **state)
{
	static const char *const replies[] = {
		"220 mx.example.net ESMTP\r\n",
		"250-mx.example.net\r\n250 AUTH PLAIN LOGIN\r\n",
		"221 2.0.0 Bye\r\n",
		NULL,
	};
	struct server server;
	struct client client;
	struct strbuf received;

	(void)state;
	server_start(&server, replies);
	client_init(&client, server.port);
	client.settings.tls_level = SMTP_TLS_MAY;
	client.settings.sasl_username = "reporter";
	client.settings.sasl_password = "secret-password";
	assert_int_equal(client_send(&client, dotted_message), SMTP_TEMPORARY);
	assert_non_null(strstr(client.reason.data, "not encrypted"));
	assert_null(strstr(client.reason.data, "secret-password"));
	strbuf_init(&received);
	server_finish(&server, &received);
	assert_null(strstr(received.data, "AUTH"));
	assert_null(strstr(received.data, "MAIL FROM"));
	assert_non_null(strstr(received.data, "QUIT\r\n"));
	strbuf_free(&received);
	client_free(&client);
}

static void encrypt_needs_starttls(void **state)
{
	static const char *const replies[] = {
		"220 mx.example.net ESMTP\r\n",
		"250-mx.example.net\r\n250 PIPELINING\r\n",
		"221 2.0.0 Bye\r\n",
		NULL,
	};
	struct server server;
	struct client client;
	struct strbuf received;

	(void)state;
	server_start(&server, replies);
	client_init(&client, server.port);
	client.settings.tls_level = SMTP_TLS_ENCRYPT;
	assert_int_equal(client_send(&client, dotted_message), SMTP_TEMPORARY);
	assert_non_null(strstr(client.reason.data,
			       "did not offer STARTTLS"));
	strbuf_init(&received);
	server_finish(&server, &received);
	assert_null(strstr(received.data, "MAIL FROM"));
	strbuf_free(&received);
	client_free(&client);
}

static void tls_levels_parsed(void **state)
{
	enum smtp_tls_level level;

	(void)state;
	assert_int_equal(smtp_tls_level_parse("none", &level), 0);
	assert_int_equal(level, SMTP_TLS_NONE);
	assert_int_equal(smtp_tls_level_parse("may", &level), 0);
	assert_int_equal(level, SMTP_TLS_MAY);
	assert_int_equal(smtp_tls_level_parse("encrypt", &level), 0);
	assert_int_equal(level, SMTP_TLS_ENCRYPT);
	assert_int_equal(smtp_tls_level_parse("verify", &level), -1);
	assert_int_equal(smtp_tls_level_parse("", &level), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dot_stuff_function),
		cmocka_unit_test(dotted_text_part_delivered),
		cmocka_unit_test(rejected_bcc_still_delivered),
		cmocka_unit_test(auth_never_in_plain_text),
		cmocka_unit_test(encrypt_needs_starttls),
		cmocka_unit_test(tls_levels_parsed),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("smtp_session", tests, NULL, NULL);
}
