#ifndef CFCGI_SHIM_H
#define CFCGI_SHIM_H
// fcgiapp.h only: fcgi_stdio.h replaces stdio and environ, and os.environ/
// references are resolved from the real process environment.
#include <fcgiapp.h>

// accept4(2) is a GNU extension the Glibc module leaves out. Declared, not included:
// <sys/socket.h> in this module would take its names away from Glibc's.
struct sockaddr;
extern int accept4(int fd, struct sockaddr *address, unsigned int *length, int flags);
#endif
