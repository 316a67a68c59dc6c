/*
 * The pod sandbox's first process (the "pause" container) for the local node: it holds the pod's
 * namespaces, reaps the orphans it inherits, and exits on SIGINT or SIGTERM. Built static by
 * kubemaint_devstack.images, because no registry is reachable to pull one.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
