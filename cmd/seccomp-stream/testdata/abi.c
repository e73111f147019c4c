/*
 * abi: make one system call through another ABI of x86_64 and print the raw
 * result (a negative errno on failure). "abi i386 NR" uses int $0x80 with an
 * i386 call number; "abi x32 NR" uses the syscall instruction with the x32
 * bit (0x40000000) set in NR. Built by the tests in ../abi_test.go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	long ret, nr;
	if (argc != 3)
		return 100;
	nr = strtol(argv[2], 0, 0);
	if (strcmp(argv[1], "i386") == 0)
		__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
	else
		__asm__ volatile ("syscall" : "=a"(ret) : "a"(nr | 0x40000000L) : "rcx", "r11", "memory");
	printf("%ld\n", ret);
	return 0;
}
