/*
 * What one thread waking another costs on this machine: two threads pass a byte back
 * and forth over a pair of Unix sockets, pinned to two different CPUs and then to the
 * same one. Every hop of a proxied request (wrk -> nginx -> gateway -> upstream -> ...)
 * is such a wake-up, so the figures explain how much latency each extra hop adds here.
 *
 *     cc -O2 -pthread -o wakeup bench/wakeup.c && ./wakeup [round trips]
 *
 * Prints "cross_cpu_us=X same_cpu_us=Y": microseconds per wake-up (half a round trip),
 * cross_cpu_us=- on a machine with one CPU.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long trips;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *echo(void *cpu) {
    pin((int)(long)cpu);
    char byte;
    for (long i = 0; i < trips; i++) {
        if (read(ping[1], &byte, 1) != 1 || write(pong[1], &byte, 1) != 1) exit(1);
    }
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Microseconds per wake-up with this thread on cpu `mine` and its peer on `theirs`. */
static double measure(int mine, int theirs) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, ping) || socketpair(AF_UNIX, SOCK_STREAM, 0, pong)) exit(1);
    pin(mine);
    pthread_t peer;
    pthread_create(&peer, NULL, echo, (void *)(long)theirs);
    char byte = 'x';
    double start = now();
    for (long i = 0; i < trips; i++) {
        if (write(ping[0], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1) exit(1);
    }
    double elapsed = now() - start;
    pthread_join(peer, NULL);
    close(ping[0]), close(ping[1]), close(pong[0]), close(pong[1]);
    return elapsed / trips / 2 * 1e6;
}

int main(int argc, char **argv) {
    trips = argc > 1 ? atol(argv[1]) : 20000;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 1) {
        printf("cross_cpu_us=%.1f ", measure(0, 1));
    } else {
        printf("cross_cpu_us=- ");
    }
    printf("same_cpu_us=%.1f\n", measure(0, 0));
    return 0;
}
