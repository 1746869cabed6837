#!/usr/bin/perl
# The egress proxy's address inside an allowlist sandbox: opens 127.0.0.1:3128, starts the relay beside it
# (gate_relay.py, which relays each connection to the gate's Unix socket), and runs COMMAND in its own place.
#
#   perl gate_client.pl COMMAND...    (aishell_runner/session.py puts it first)
#
# The port is open before COMMAND starts, so its first connection waits in the kernel's backlog until the
# relay takes it, however long Python takes to start. Perl, and none of its modules: every launch waits for
# this to start (2 ms; Python needs 10, and Socket.pm as much again). Hence Linux's own numbers below.
use strict;
use warnings;

my ($AF_INET, $SOCK_STREAM, $SOL_SOCKET, $SO_REUSEADDR, $EADDRINUSE) = (2, 1, 1, 2, 98);
my $PORT = 3128;
(my $relay = $0) =~ s{[^/]*$}{gate_relay.py};

die "usage: gate_client.pl COMMAND...\n" unless @ARGV;
$^F = 255;  # the listening socket stays open across the relay's exec (Perl closes higher ones by default)
socket(my $listener, $AF_INET, $SOCK_STREAM, 0) or die "aishell egress gate: socket: $!\n";
setsockopt($listener, $SOL_SOCKET, $SO_REUSEADDR, pack("i", 1));
if (bind($listener, pack("S n C4 x8", $AF_INET, $PORT, 127, 0, 0, 1)) && listen($listener, 128)) {
    my $pid = fork();
    if (defined $pid && $pid == 0) {
        setpgrp(0, 0);  # out of the terminal's process group: Ctrl-C is the command's, not the relay's
        open(STDIN, "<", "/dev/null");
        open(STDOUT, ">", "/dev/null");
        { no warnings "exec"; exec("python3", "-I", "-S", $relay, fileno($listener)); }
        print STDERR "aishell egress gate: cannot start the relay: $!\n";
        exit 1;
    }
    print STDERR "aishell egress gate: cannot start the relay: $!\n" unless defined $pid;
} elsif ($! != $EADDRINUSE) {  # in use: a forwarder of this sandbox serves the port already
    print STDERR "aishell egress gate: cannot open 127.0.0.1:$PORT: $!\n";
}
close($listener);
delete $ENV{AISHELL_GATE_TOKEN};  # the relay's, not the command's
{
    no warnings "exec";  # a command that cannot run is said below, as a shell says it, with a shell's status
    exec { $ARGV[0] } @ARGV;
}
print STDERR "$ARGV[0]: $!\n";
exit($!{ENOENT} ? 127 : 126);
