/*
 * sendmail: run the sendmail program for one message (see sendmail.h).
 *
 * The message goes in and the output comes out through pipes served by
 * one poll() loop, so a program that writes much output before it reads
 * its input cannot deadlock the mailer. A third pipe, closed on exec,
 * carries errno back when execv() fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sendmail.h"

#define EXIT_TEMPFAIL	75	/* EX_TEMPFAIL of sysexits.h */
#define POLL_INTERVAL	100	/* milliseconds between checks for exit */

/* One run of the program. */
struct run {
	pid_t pid;
	int input;		/* write end of its standard input, or -1 */
	int output;		/* read end of its stdout and stderr, or -1 */
	struct strbuf data;	/* the message with LF line ends */
	size_t written;
	struct strbuf text;	/* the start of its output */
	int status;		/* from waitpid() once exited */
	bool exited;
};

static long long now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Copy the message with each CRLF turned into LF. */
static void to_unix_lines(const char *message, size_t len, struct strbuf *out)
{
	size_t i;

	strbuf_reserve(out, len);
	for (i = 0; i < len; i++) {
		if (message[i] == '\r' && i + 1 < len && message[i + 1] == '\n')
			continue;
		strbuf_putc(out, message[i]);
	}
}

/* In the child: connect the pipes and execute the program. Reports
 * errno on error_fd if execv() fails. */
static _Noreturn void run_child(char *const argv[], int input[2],
				int output[2], int error_fd)
{
	int err;

	signal(SIGPIPE, SIG_DFL);
	if (dup2(input[0], STDIN_FILENO) < 0
	    || dup2(output[1], STDOUT_FILENO) < 0
	    || dup2(output[1], STDERR_FILENO) < 0)
		goto fail;
	execv(argv[0], argv);

fail:
	err = errno;
	(void)!write(error_fd, &err, sizeof(err));
	_exit(127);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Start the program. Returns 0, or -1 with the reason set. */
static int start(struct run *run, char *const argv[], struct strbuf *reason)
{
	int input[2], output[2], errors[2];
	int child_errno = 0;
	ssize_t got;

	if (pipe2(input, O_CLOEXEC) != 0)
		goto no_pipe;
	if (pipe2(output, O_CLOEXEC) != 0) {
		close(input[0]);
		close(input[1]);
		goto no_pipe;
	}
	if (pipe2(errors, O_CLOEXEC) != 0) {
		close(input[0]);
		close(input[1]);
		close(output[0]);
		close(output[1]);
		goto no_pipe;
	}

	run->pid = fork();
	if (run->pid == 0)
		run_child(argv, input, output, errors[1]);
	close(input[0]);
	close(output[1]);
	close(errors[1]);
	run->input = input[1];
	run->output = output[0];
	if (run->pid < 0) {
		strbuf_printf(reason, "cannot start %s: fork: %s", argv[0],
			      strerror(errno));
		close(errors[0]);
		return -1;
	}

	/* The error pipe closes on a successful exec. */
	do {
		got = read(errors[0], &child_errno, sizeof(child_errno));
	} while (got < 0 && errno == EINTR);
	close(errors[0]);
	if (got == (ssize_t)sizeof(child_errno)) {
		strbuf_printf(reason, "cannot execute %s: %s; fix "
			      "sendmail_path", argv[0], strerror(child_errno));
		waitpid(run->pid, &run->status, 0);
		run->exited = true;
		return -1;
	}
	fcntl(run->input, F_SETFL, O_NONBLOCK);
	fcntl(run->output, F_SETFL, O_NONBLOCK);
	return 0;

no_pipe:
	strbuf_printf(reason, "cannot start %s: pipe: %s", argv[0],
		      strerror(errno));
	run->pid = -1;
	return -1;
}

static void write_input(struct run *run)
{
	ssize_t written = write(run->input, run->data.data + run->written,
				run->data.len - run->written);

	if (written > 0)
		run->written += (size_t)written;
	else if (written < 0 && errno != EAGAIN && errno != EINTR)
		close_fd(&run->input);	/* it stopped reading: EPIPE */
	if (run->input >= 0 && run->written == run->data.len)
		close_fd(&run->input);
}

/* Read what the program wrote. Returns the bytes read, 0 at the end
 * of the output or when nothing is ready. */
static ssize_t read_output(struct run *run)
{
	char buffer[4096];
	ssize_t got = read(run->output, buffer, sizeof(buffer));
	size_t room = SENDMAIL_OUTPUT_MAX - run->text.len;

	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
		close_fd(&run->output);
		return 0;
	}
	if (got > 0 && room > 0)
		strbuf_append(&run->text, buffer,
			      (size_t)got < room ? (size_t)got : room);
	return got > 0 ? got : 0;
}

/* Feed the input and collect the output until the program exits and
 * both pipes are done, or deadline. Returns 0, or -1 on timeout. */
static int serve(struct run *run, long long deadline)
{
	for (;;) {
		struct pollfd fds[2];
		nfds_t count = 0;
		long long left = deadline - now_ms();

		if (!run->exited && waitpid(run->pid, &run->status,
					    WNOHANG) == run->pid)
			run->exited = true;

		/* A program that has exited may leave a background
		 * process holding the output pipe; do not wait for it. */
		if (run->exited && (run->input < 0 || run->output < 0)) {
			while (run->output >= 0 && read_output(run) > 0)
				continue;
			return 0;
		}
		if (left <= 0)
			return -1;
		if (run->input >= 0) {
			fds[count].fd = run->input;
			fds[count++].events = POLLOUT;
		}
		if (run->output >= 0) {
			fds[count].fd = run->output;
			fds[count++].events = POLLIN;
		}
		if (poll(fds, count, left < POLL_INTERVAL ? (int)left
			 : POLL_INTERVAL) <= 0)
			continue;
		if (run->input >= 0 && fds[0].revents != 0)
			write_input(run);
		if (run->output >= 0 && fds[count - 1].revents != 0)
			read_output(run);
	}
}

/* The first line of the output, printable ASCII only. */
static void first_line(const struct strbuf *text, struct strbuf *out)
{
	size_t len = strcspn(text->data, "\r\n");
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text->data[i];

		strbuf_putc(out, c >= ' ' && c < 0x7f ? (char)c : '?');
	}
}

static enum sendmail_status judge(const struct run *run, const char *path,
				  struct strbuf *reason)
{
	enum sendmail_status status;

	if (WIFSIGNALED(run->status)) {
		strbuf_printf(reason, "%s was killed by signal %d", path,
			      WTERMSIG(run->status));
		status = SENDMAIL_TEMPORARY;
	} else if (WEXITSTATUS(run->status) == 0) {
		strbuf_printf(reason, "sent by %s", path);
		status = SENDMAIL_SENT;
	} else if (WEXITSTATUS(run->status) == EXIT_TEMPFAIL) {
		strbuf_printf(reason, "%s exited with status %d (temporary "
			      "failure)", path, EXIT_TEMPFAIL);
		status = SENDMAIL_TEMPORARY;
	} else {
		strbuf_printf(reason, "%s exited with status %d", path,
			      WEXITSTATUS(run->status));
		status = SENDMAIL_PERMANENT;
	}
	if (run->text.len > 0) {
		strbuf_puts(reason, ": ");
		first_line(&run->text, reason);
	}
	return status;
}

enum sendmail_status sendmail_send(const char *path, const char *sender,
				   const char *recipient, const char *bcc,
				   const char *message, size_t message_len,
				   long long timeout, struct strbuf *reason)
{
	char *argv[] = {
		(char *)path, "-i", "-f", (char *)sender, "--",
		(char *)recipient, (char *)bcc, NULL,
	};
	long long deadline = now_ms() + timeout * 1000;
	enum sendmail_status status = SENDMAIL_TEMPORARY;
	struct run run;

	if (bcc == NULL || bcc[0] == '\0')
		argv[6] = NULL;
	memset(&run, 0, sizeof(run));
	run.input = run.output = -1;
	strbuf_init(&run.data);
	strbuf_init(&run.text);
	strbuf_reset(reason);
	to_unix_lines(message, message_len, &run.data);

	if (start(&run, argv, reason) != 0)
		goto done;
	if (serve(&run, deadline) != 0) {
		if (!run.exited) {
			kill(run.pid, SIGKILL);
			waitpid(run.pid, &run.status, 0);
		}
		strbuf_printf(reason, "%s did not finish within %llds "
			      "(smtp_timeout)", path, timeout);
		goto done;
	}

	/* A program that stops reading and still exits 0 may not have
	 * queued the message; any other exit status speaks for itself. */
	if (run.written < run.data.len && WIFEXITED(run.status)
	    && WEXITSTATUS(run.status) == 0) {
		strbuf_printf(reason, "%s exited before it read the whole "
			      "message", path);
		goto done;
	}
	status = judge(&run, path, reason);

done:
	close_fd(&run.input);
	close_fd(&run.output);
	strbuf_free(&run.data);
	strbuf_free(&run.text);
	return status;
}
