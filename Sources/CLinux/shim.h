#ifndef TERN_CLINUX_SHIM_H
#define TERN_CLINUX_SHIM_H

/* Linux calls Swift's Glibc module leaves out (they are declared only under _GNU_SOURCE). */

/* Commits every pending write of the file system holding `fd` (glibc 2.14+, Linux 2.6.39+). */
int syncfs(int fd);

#endif
