/* The few C library functions a freestanding kernel needs (GCC may call the mem* ones itself). */
#ifndef LIB_H
#define LIB_H

#include "arch.h"

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

#endif
