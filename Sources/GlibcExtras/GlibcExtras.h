// The C library's functions that Swift's Glibc module does not declare: it is built without
// _GNU_SOURCE, and <sys/prctl.h> and <malloc.h> are not part of it. Declared here (as glibc declares
// them) so that they are linked like any other, which a fully static executable needs: there,
// looking them up at run time with dlsym finds nothing. Only QueueSystem imports this.
#include <spawn.h>
#include <sys/types.h>

int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict actions, const char *__restrict path);
int sync_file_range(int fd, long long offset, long long nbytes, unsigned int flags);
int mallopt(int param, int value);
// prctl is variadic in C, which Swift cannot call; every option this project uses takes integers.
int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
// glibc 2.30 and later; the main thread is the one whose thread id is the pid.
pid_t gettid(void);
// <sys/auxv.h>: the auxiliary vector the kernel gave the process (AT_BASE, 7: the dynamic loader's
// address, 0 in an executable started without one).
unsigned long getauxval(unsigned long type);
