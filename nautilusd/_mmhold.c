/* hold(): a helper process that shares this process's memory (CLONE_VM), so a SIGKILL of an
 * engine is seen at once: the kernel tears an address space down in the last exit that
 * drops it, before the exit is signalled (pidfd, SIGCHLD). With a second user of the mm, the
 * engine's own exit only drops a reference; the helper learns of it (its parent-death
 * signal), waits HOLD_AFTER_EXIT_NS so that the ~1 ms teardown of a forked interpreter does
 * not compete with the respawn for the CPU, and exits, paying it then.
 *
 * The helper runs no Python and no libc code that could touch the shared heap or thread
 * state (errno included): raw system calls only, every signal blocked (the caller blocks
 * them all around clone), every file descriptor closed, its own process group (a killpg of
 * the engine's group does not reach it first: it must outlive the engine, not race it). */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HELPER_STACK_BYTES (64 * 1024)
#define HOLD_AFTER_EXIT_NS 50000000L /* past the respawn's READY (a few ms) */
#define PARENT_GONE SIGUSR2         /* blocked: taken by rt_sigtimedwait, never handled */

#if defined(__x86_64__)
/* A system call that reports failure in its return value and never writes errno. */
static long raw_syscall(long nr, long a, long b, long c, long d, long e) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#define raw_syscall(nr, a, b, c, d, e) syscall((nr), (a), (b), (c), (d), (e))
#endif

static int helper_main(void *arg) {
    unsigned long gone = 1UL << (PARENT_GONE - 1); /* the kernel's sigset_t, one word */
    raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, PARENT_GONE, 0, 0, 0);
    if (raw_syscall(SYS_getppid, 0, 0, 0, 0, 0) != (long)(intptr_t)arg)
        raw_syscall(SYS_exit, 0, 0, 0, 0, 0); /* the parent died before the signal was armed */
    raw_syscall(SYS_prctl, PR_SET_NAME, (long)"nautilusd-mm", 0, 0, 0);
    raw_syscall(SYS_close_range, 3, ~0U, 0, 0, 0);
    while (raw_syscall(SYS_rt_sigtimedwait, (long)&gone, 0, 0, sizeof gone, 0) != PARENT_GONE)
        ;
    struct timespec hold = {0, HOLD_AFTER_EXIT_NS};
    raw_syscall(SYS_nanosleep, (long)&hold, 0, 0, 0, 0);
    raw_syscall(SYS_exit, 0, 0, 0, 0, 0);
    return 0;
}

static PyObject *hold(PyObject *mod, PyObject *unused) {
    void *stack = mmap(NULL, HELPER_STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pid = clone(helper_main, (char *)stack + HELPER_STACK_BYTES, CLONE_VM | SIGCHLD,
                    (void *)(intptr_t)getpid());
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        munmap(stack, HELPER_STACK_BYTES);
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* The stack stays mapped: the helper lives on it until it dies with this process. */
    setpgid(pid, pid);
    return PyLong_FromLong(pid);
}

static PyMethodDef module_methods[] = {
    {"hold", hold, METH_NOARGS,
     "hold() -> pid: a helper sharing this process's memory until it exits (see module)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mmhold_module = {
    PyModuleDef_HEAD_INIT, "nautilusd._mmhold",
    "A helper process that holds an engine's address space so its exit is seen at once.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__mmhold(void) { return PyModule_Create(&mmhold_module); }
