#ifndef CFCGI_SHIM_H
#define CFCGI_SHIM_H
// fcgiapp.h only: fcgi_stdio.h replaces stdio and environ, and os.environ/
// references are resolved from the real process environment.
#include <fcgiapp.h>
#endif
