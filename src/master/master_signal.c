/*
 * master_signal: signal handlers that only set flags.
 *
 * SIGTERM and SIGINT ask for a shutdown, SIGHUP for a reload, and SIGCHLD
 * reports that a child may have exited. The four signals stay blocked except
 * while the event loop waits in ppoll(), so a signal that arrives while
 * the loop works is noticed at its next wait, never lost in between.
 */
#include <string.h>

#include "master.h"

volatile sig_atomic_t master_sig_stop;
volatile sig_atomic_t master_sig_reload;
volatile sig_atomic_t master_sig_child;

static void on_stop(int sig)
{
	master_sig_stop = sig;
}

static void on_reload(int sig)
{
	(void)sig;
	master_sig_reload = 1;
}

static void on_child(int sig)
{
	(void)sig;
	master_sig_child = 1;
}

static void handle(int sig, void (*handler)(int))
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	sigemptyset(&action.sa_mask);
	action.sa_handler = handler;
	sigaction(sig, &action, NULL);
}

/*
 * Install the handlers and block the signals. wait_mask receives the mask
 * to pass to ppoll(): the previous mask, with the four signals open.
 */
void master_signal_init(sigset_t *wait_mask)
{
	sigset_t blocked;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGHUP);
	sigdelset(wait_mask, SIGCHLD);

	handle(SIGTERM, on_stop);
	handle(SIGINT, on_stop);
	handle(SIGHUP, on_reload);
	handle(SIGCHLD, on_child);
	handle(SIGPIPE, SIG_IGN);
}

/* In a child before exec: default dispositions and nothing blocked. */
void master_signal_reset_child(void)
{
	sigset_t none;

	handle(SIGTERM, SIG_DFL);
	handle(SIGINT, SIG_DFL);
	handle(SIGHUP, SIG_DFL);
	handle(SIGCHLD, SIG_DFL);
	handle(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
