# The module watches "proxy_set_header" only while its own http block is
# parsed (t/040): the proxy module's handler is given back at the end of
# the block, and when a configuration fails half way.  A reload that fails
# after the watch began, then reloads to configurations without the module
# (which unload it) and with "proxy_set_header", must leave the master
# running the proxy module's own handler: nothing of the module is called
# once it is unloaded.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
master_on();
workers(1);
add_block_preprocessor(\&YotiIdvTest::defaults);

my $conf = sub { server_root() . '/conf/nginx.conf' };

sub slurp {
    open my $in, '<', $conf->() or die "no nginx.conf: $!\n";
    local $/;
    return scalar <$in>;
}

sub spill {
    my ($text) = @_;
    open my $out, '>', $conf->() or die "cannot write nginx.conf: $!\n";
    print {$out} $text;
    close $out;
}

sub master_pid {
    open my $fh, '<', server_root() . '/logs/nginx.pid' or die "no pid\n";
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub hup {
    my $pid = master_pid();
    kill 'HUP', $pid or die "HUP $pid: $!\n";
}

# the master's children: after a reload, the new worker and the old ones
# still shutting down (which may still accept a connection)
sub children {
    my ($ppid) = @_;
    my $n = 0;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $in, '<', $stat or next;
        my $line = <$in> // next;
        $n++ if $line =~ /\) \S (\d+) / && $1 == $ppid;
    }
    return $n;
}

# until GET /step answers $want and the old worker is gone, for up to 10 s
sub wait_step {
    my ($want) = @_;
    my $master = master_pid();
    for (1 .. 100) {
        my ($st, $body) = YotiIdvTest::http_get(server_port(), '/step', {});
        return if $st eq '200' && $body eq $want && children($master) == 1;
        select(undef, undef, undef, 0.1);
    }
    die "GET /step never answered \"$want\" from the only worker\n";
}

# until the error log has a line matching $re, for up to 10 s
sub wait_log {
    my ($re) = @_;
    my $log = server_root() . '/logs/error.log';
    for (1 .. 100) {
        open my $in, '<', $log or die "no error.log\n";
        local $/;
        return if <$in> =~ $re;
        select(undef, undef, undef, 0.1);
    }
    die "the error log never matched $re\n";
}

# the running configuration without the module: no load_module line and
# nothing of the module's, a "proxy_set_header" at server level; the same
# listen socket as the runner's
sub without_module {
    my ($text, $step) = @_;
    my ($listen) = $text =~ /^\s*listen\s+([^;]+);/m
        or die "no listen in nginx.conf\n";
    $text =~ s/^\s*load_module\s[^;]*yoti_idv[^;]*;//mg;
    $text =~ s/http \{.*\z/http {
    access_log off;
    proxy_temp_path ${\ server_root()}\/proxy_temp;

    server {
        listen $listen;
        proxy_set_header X-Step $step;

        location = \/step {
            return 200 "$step\\n";
        }
    }
}

events {
    worker_connections 64;
}
/s;
    return $text;
}

run_tests();

__DATA__

=== TEST 1: a reload that fails in the http block, then two without the module
--- config
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

    location = /step {
        return 200 "one\n";
    }
--- init
my $text = main::slurp();
(my $broken = $text) =~ s/(\n\s*server \{)/\n    proxy_set_header X-Broken 1;\n    no_such_directive_here;$1/
    or die "no server block in nginx.conf\n";
main::spill($broken);
main::hup();
main::wait_log(qr/unknown directive "no_such_directive_here"/);
main::wait_step("one\n");
main::spill(main::without_module($text, 'two'));
main::hup();
main::wait_step("two\n");
main::spill(main::without_module($text, 'three'));
main::hup();
main::wait_step("three\n");
--- request
GET /step
--- response_body
three
--- no_error_log
[alert]
exited on signal
