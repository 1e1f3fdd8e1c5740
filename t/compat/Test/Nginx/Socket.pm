package Test::Nginx::Socket;

# A small stand-in for Test::Nginx::Socket (openresty/test-nginx), used by
# `make test` (util/prove.sh) only when the real module is not installed:
#
#     prove -I t/compat -r t
#
# Needs Test::Base and HTTP::Message (Debian: libtest-base-perl,
# libhttp-message-perl); Test::LongString is used when present, as in the
# real module.
#
# It implements the part of the data-driven format that our t/*.t files use,
# with the real module's semantics, test names and test counts, so that a .t
# file gives the same verdicts under both.  Blocks are parsed by Test::Base
# itself (sections, `chomp`/`eval` filters, --- ONLY, --- SKIP), as in the
# real module.  $TEST_NGINX_* variables are expanded in the same sections as
# the real one: config, http_config, main_config, post_main_config,
# pipelined_requests, response_body (string) and grep_error_log_out.
#
# Known differences from the real module:
#   * nginx runs in the foreground (`daemon off`) as our child, in its own
#     process group; it is stopped with SIGQUIT, then SIGKILL of that group
#     after timeout() seconds, when the next block starts nginx, at END, on
#     SIGINT/SIGTERM and on die.  nginx counts as started once it has written
#     its pid file (done after its sockets listen), so no probe connection
#     ever appears in error.log.
#   * `listen 127.0.0.1:PORT`, not `listen PORT`.  Unless TEST_NGINX_SERVER_PORT
#     or TEST_NGINX_PORT is set, a free port is picked per test file (the real
#     default is 1984); both variables are exported (the real one exports only
#     TEST_NGINX_SERVER_PORT).  With TEST_NGINX_RANDOMIZE both runners pick a
#     free port (ours by binding port 0) and use t/servroot_PORT.
#   * It never signals a process it did not start (the real one kills the
#     nginx named by a stale pid file).
#   * --- must_die: "nginx did not die" means it wrote its pid file (or still
#     ran after 10 s); it is then stopped.
#   * The order of `--- response_headers` tests is the file order (the real
#     one uses hash order); names and counts are the same.
#   * Sections in @Unsupported, requests given as arrays of packets, and the
#     HUP/stap/check-leak/benchmark/http2/http3 modes are not
#     implemented: a block using such a section is a BAIL_OUT, never a pass.
#   * TEST_NGINX_USE_VALGRIND (see "valgrind mode" below) reports through
#     TAP, not on stderr: one extra test per block.
#   * TEST_NGINX_SAN_DIR (`make test-asan`, util/test-asan.sh): nginx's
#     stderr goes to logs/nginx.stderr, and a line of error.log with
#     UndefinedBehaviorSanitizer's "runtime error:" fails the block's test,
#     as a failed assertion does.  Before a block's logs are removed, every
#     such report of error.log and nginx.stderr, with its stack, is copied
#     to TEST_NGINX_SAN_DIR/san.ubsan.PID.N.  Debian's gcc runtime ignores
#     UBSAN_OPTIONS's log_path: its reports go to stderr, which is the error
#     log once nginx has opened it, and would be lost with the servroot.
#
# valgrind mode (TEST_NGINX_USE_VALGRIND set to a true value, e.g. 1):
#   * nginx runs, still in the foreground as our child, under
#         valgrind --tool=memcheck --leak-check=full
#             --errors-for-leak-kinds=definite --show-leak-kinds=definite
#             --keep-debuginfo=yes --num-callers=30
#             --log-file=<servroot>/logs/valgrind.%p.log
#             [--suppressions=t/valgrind.suppress]   (if that file exists)
#     A value that is not a number adds its words as further valgrind
#     options (e.g. TEST_NGINX_USE_VALGRIND=--track-origins=yes); the real
#     module uses such a value instead of its own options.
#     --keep-debuginfo=yes: nginx dlclose()s dynamic modules before it
#     exits, and the leak check runs after that; without it the module's
#     frames in leak stacks would be "???".
#   * Worker processes: master_process is left as the test file sets it
#     (off by default: one process).  With master_on() the workers are
#     fork()ed, and valgrind follows fork() by itself (--trace-children is
#     about exec(), which nginx does only for a binary upgrade); each
#     process writes its own valgrind.PID.log, and the master exits only
#     after its workers have, so after their leak checks.
#   * Waits scale by TEST_NGINX_VALGRIND_SCALE (default 10, exported so a
#     .t file can scale its own timelines; the real module knows no such
#     variable): the 10 s wait for the pid file, timeout() and --- timeout.
#     The graceful stop (SIGQUIT) waits up to max(60, timeout() * scale) s
#     for valgrind's leak check before SIGKILL.
#   * nginx is stopped (SIGQUIT) at the end of every block, as the real
#     module does under valgrind; a block without --- config starts a new
#     nginx with the previous block's nginx.conf.  The block's
#     --- shutdown_error_log is then checked at once, and every valgrind
#     log the block produced is read: one more test,
#         "<name> - valgrind: no memory errors or definite leaks"
#     fails, with the log records, on any error record (any record with a
#     stack: memcheck errors, definite leaks, fatal signals), on an
#     "ERROR SUMMARY" other than 0, and on a log without one (a process
#     that was killed or did not finish).  Frames of the module
#     (ngx_http_yoti_idv_*, ngx_yoti_idv_*) are marked in the diagnostics.
#     A file with a numeric plan must count these tests; ours use no_plan.

use strict;
use warnings;
use feature 'state';

use Test::Base -base;    # a Test::Base subclass, like the real module
use Test::More ();
use HTTP::Response ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX ();
use Errno qw(EAGAIN EINTR);
use Time::HiRes ();
use File::Path ();
use File::Spec ();
use List::Util qw(min);
use Scalar::Util ();

our $VERSION = '0.33';    # the test-nginx version whose behaviour is mirrored

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle workers master_on master_off
    master_process_enabled log_level no_long_string env_to_nginx
    add_block_preprocessor timeout worker_connections no_root_location
    config_preamble server_name server_root html_dir server_port
    bail_out is_str check_accum_error_log add_cleanup_handler
);

my @Unsupported = qw(
    raw_request user_files access_log no_access_log tcp_listen udp_listen stap
    curl http2 http3 response_body_filters response_body_json_sort charset
    skip_nginx skip_nginx2 skip_eval skip_openssl skip_slave todo todo_nginx
    post_setup_server_root error_log_file reload_fails http09 shutdown
    response_body_eval request_eval write_resp_body_file no_shutdown_error_log
);

# Settings: same defaults and environment variables as the real module.
our $RepeatEach        = 1;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Workers           = 1;
our $WorkerConnections = 64;
our $MasterProcess     = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep             = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindSuppress  = File::Spec->rel2abs('t/valgrind.suppress');
our $Scale             = 1;    # how much longer every wait is
if ($UseValgrind) {
    $ENV{TEST_NGINX_VALGRIND_SCALE} ||= 10;
    $Scale = $ENV{TEST_NGINX_VALGRIND_SCALE};
    die "TEST_NGINX_VALGRIND_SCALE must be a positive number\n"
        unless Scalar::Util::looks_like_number($Scale) && $Scale > 0;
}
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our ($NoLongString, $NoRootLocation, $ConfigPreamble) = (0, 0, '');
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);

# TEST_NGINX_RANDOMIZE (as in the real one): a free port and its own
# t/servroot_PORT, removed at END, so test files can run in parallel.
our $Randomize = $ENV{TEST_NGINX_RANDOMIZE};
our $ServerPort;
$ServerPort = (!$Randomize && ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}))
              || _free_port() or die "cannot find a free TCP port on 127.0.0.1\n";
$ENV{TEST_NGINX_SERVER_PORT} ||= $ServerPort;
$ENV{TEST_NGINX_PORT}        ||= $ServerPort;

our $ServRoot = $Randomize ? File::Spec->rel2abs("t/servroot_$ServerPort")
              : $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our ($LogDir, $HtmlDir, $ConfDir) = map { "$ServRoot/$_" } qw(logs html conf);
our $ErrLogFile = "$LogDir/error.log";
our $SanDir     = $ENV{TEST_NGINX_SAN_DIR};
our $PidFile    = "$LogDir/nginx.pid";
our $ConfFile   = "$ConfDir/nginx.conf";

my $OwnerPid = $$;        # only this process manages nginx (not forked kids)
my $NginxPid;             # the foreground nginx we started, while it runs
my $ErrLogFilePos = 0;    # how much of error.log has been examined
my ($PrevConfig, $PrevBlock, $RandPorts, $NginxV);
my %ValgrindLogSeen;      # valgrind logs already reported (valgrind mode)

# ==== Exported functions ================================================
sub repeat_each { $RepeatEach = shift if @_; $RepeatEach }
sub workers { $Workers = shift if @_; $Workers }
sub worker_connections { $WorkerConnections = shift if @_; $WorkerConnections }
sub log_level { $LogLevel = shift if @_; $LogLevel }
sub timeout { $Timeout = shift if @_; $Timeout }
sub server_name { $ServerName = shift if @_; $ServerName }
sub server_port { $ServerPort = shift if @_; $ServerPort }
sub master_process_enabled { $MasterProcess = shift() ? 'on' : 'off' if @_; $MasterProcess }
sub master_on () { $MasterProcess = 'on' }
sub master_off () { $MasterProcess = 'off' }
sub no_shuffle () { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($) { $ConfigPreamble = shift }
sub server_root () { $ServRoot }
sub html_dir () { $HtmlDir }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub env_to_nginx {
    Carp::croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v\n")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out {
    _cleanup();
    Test::More::BAIL_OUT(@_);
}

# like() for a qr//, else is() -- or Test::LongString's is_string() unless
# no_long_string() was called.
sub is_str {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::LongString::is_string($got, $expected, $desc)
        if !$NoLongString && eval { require Test::LongString; 1 };
    return Test::More::is($got, $expected, $desc);
}

# ==== Helpers ===========================================================
# A currently unused TCP port on 127.0.0.1, never the nginx server port.
sub _free_port {
    for (1 .. 10) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1) or return;
        my $port = $s->sockport;
        close $s;
        return $port unless defined $ServerPort && $port == $ServerPort;
    }
    return;
}

sub _no_ending { Test::More->builder->no_ending(1) }

sub _parse_time {    # "5", "5s" or "500ms" -> seconds
    my $tm = shift;
    return $tm / 1000 if defined $tm && $tm =~ s/([^_a-zA-Z])ms$/$1/;
    $tm =~ s/([^_a-zA-Z])s$/$1/ if defined $tm;
    return $tm;
}

sub _fmt_str {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

# $TEST_NGINX_FOO -> $ENV{TEST_NGINX_FOO}, BAIL_OUT if unset;
# $TEST_NGINX_RAND_PORT_<N> -> a free port, the same within one block.
sub _expand_env {
    my ($text, $name) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        $var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/
            ? ($RandPorts->{$var} //= _free_port()
               // bail_out("$name - Cannot find an available listening port number for $var.\n"))
            : $ENV{$var} // bail_out("$name - No environment $var defined.\n");
    }ge;
    return $text;
}

# The value of a per-request section: with several requests it must be an
# array (--- xxx eval [...]) indexed by request.
sub _indexed_value {
    my ($name, $value, $req_idx, $need_array) = @_;
    return $value->[$need_array ? $req_idx : 0] if ref $value eq 'ARRAY';
    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.") if $need_array;
    return $value;
}

sub _line_matches {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

# Lines of error.log not yet examined (all of it with check_accum_error_log).
sub _error_log_data {
    Time::HiRes::sleep($Sleep * 3);    # let log-phase messages land
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 unless $CheckAccumErrLog;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

# ==== nginx process management ==========================================
sub _nginx_cmd {
    $NginxV //= `$NginxBinary -V 2>&1` // '';
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # -e (nginx >= 1.19.5): early startup errors go to logs/error.log too
    splice @cmd, 1, 0, '-e', $ErrLogFile
        if $NginxV =~ m{nginx/(\d+)\.(\d+)\.(\d+)} && $1 * 1e6 + $2 * 1e3 + $3 >= 1019005;
    return $UseValgrind ? (_valgrind_cmd(), @cmd) : @cmd;
}

# valgrind and its options (valgrind mode), the nginx command follows.
sub _valgrind_cmd {
    state $version = `valgrind --version 2>/dev/null` // '';
    bail_out("TEST_NGINX_USE_VALGRIND is set but valgrind cannot be run")
        unless $version =~ /valgrind/;
    my @cmd = (qw(valgrind --tool=memcheck --leak-check=full
                  --errors-for-leak-kinds=definite --show-leak-kinds=definite
                  --keep-debuginfo=yes --num-callers=30),
               "--log-file=$LogDir/valgrind.%p.log");
    push @cmd, "--suppressions=$ValgrindSuppress" if -f $ValgrindSuppress;
    push @cmd, split ' ', $UseValgrind if $UseValgrind !~ /^\d+$/;
    return @cmd;
}

sub _read_pid_file {
    open my $in, '<', $PidFile or return '';
    my $pid = <$in> // '';
    $pid =~ s/\s+//g;
    return $pid;
}

# Start nginx in the foreground; wait until it has written its pid file
# ('ready') or exited ('exited', $?), at most 10 seconds ('timeout').
sub _spawn_nginx {
    my @cmd = _nginx_cmd();
    my $pid = fork // bail_out("fork() failed: $!");
    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$LogDir/nginx.stderr" if $SanDir;
        exec({ $cmd[0] } @cmd) or POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);    # also here, so there is no race
    $NginxPid = $pid;
    my $deadline = Time::HiRes::time() + 10 * $Scale;
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) != 0) {    # -1: SIGCHLD ignored
            undef $NginxPid;
            return ('exited', $?, "@cmd");
        }
        return ('ready', 0, "@cmd") if _read_pid_file() eq $pid;
        return ('timeout', 0, "@cmd") if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.01);
    }
}

# Graceful stop (SIGQUIT), then SIGKILL to nginx's own process group.
sub _stop_nginx {
    my $name = shift // '';
    return unless defined $NginxPid && $$ == $OwnerPid;
    my $pid = $NginxPid;
    undef $NginxPid;
    kill 'QUIT', $pid;
    my $deadline = Time::HiRes::time() + ($UseValgrind ? List::Util::max(60, $Timeout * $Scale)
                                                       : $Timeout);
    while (Time::HiRes::time() < $deadline) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return if $r == $pid || $r == -1;
        Time::HiRes::sleep(0.02);
    }
    warn "$name - timeout when waiting for the process $pid to exit\n";
    kill 'KILL', -$pid;
    waitpid($pid, 0);
}

# Run the cleanup handlers (on every call, like the real module), stop nginx.
sub _cleanup {
    $_->() for @CleanupHandlers;
    _stop_nginx('cleanup');
}

END {
    if (defined $OwnerPid && $$ == $OwnerPid) {
        local $?;    # keep Test::Builder's exit status
        _cleanup();
        _check_shutdown_error_log();
        _save_san_reports();
        File::Path::remove_tree($ServRoot)
            if $Randomize && $ServRoot =~ m{/t/servroot_\d+$} && -d $ServRoot;
    }
}

sub _setup_server_root {
    _save_san_reports();
    File::Path::remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                            glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    %ValgrindLogSeen = ();
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        -d $dir or mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

# The real module's nginx.conf layout, with `daemon off` and 127.0.0.1.
sub _write_config_file {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $http_config = _expand_env(scalar $block->http_config, $name) // '';
    my $main_config = join ' ', (map { "load_module $_;" } grep { $_ } split /\s+/, $LoadModules),
                                $block->main_config // '';
    $main_config = _expand_env($main_config, $name);
    my $post_main_config = _expand_env($block->post_main_config // '', $name);
    my $server_name = $block->server_name // $ServerName;

    $NginxV //= `$NginxBinary -V 2>&1` // '';
    my $temp = join '', map { " ${_}_temp_path $ServRoot/${_}_temp;" }
        grep { $NginxV !~ /--without-http_${_}_module/ && $http_config !~ /\b${_}_temp_path\b/ }
        qw(client_body proxy fastcgi scgi uwsgi);
    my $env = join '', map { /\s/ ? "env '$_';\n" : "env $_;\n" }
        qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx;
    my $root = $NoRootLocation ? ''
        : "        location / {\n            root $HtmlDir;\n"
        . "            index index.html index.htm;\n        }\n";
    my $user = defined $ENV{TEST_NGINX_WORKER_USER} ? "user $ENV{TEST_NGINX_WORKER_USER};"
             : $> == 0 ? 'user root;' : '';

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon off;
master_process $MasterProcess;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $LogDir/access.log;$temp

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root    }
}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
_EOC_
    close $out;
}

# ==== Test driver =======================================================
sub run_tests () {
    for my $sig (qw(INT TERM)) {    # an inherited 'IGNORE' is respected
        $SIG{$sig} = sub { _cleanup(); exit 1 }
            if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
    }
    my @blocks = Test::Base::blocks();
    for my $block ($NoShuffle ? @blocks : List::Util::shuffle(@blocks)) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block unless $UseValgrind;    # checked by run_test then
    }
    _cleanup();
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;
    _run_test($block);
    _valgrind_end_of_block($block) if $UseValgrind;
}

sub _run_test {
    my $block = shift;
    my $name = $block->name;
    for my $sec (@Unsupported) {
        bail_out("$name - --- $sec is not supported by t/compat/Test/Nginx/Socket.pm")
            if defined $block->$sec;
    }

    $RandPorts = {};
    my $config = _expand_env(scalar $block->config, $name);
    local $LogLevel = $block->log_level || $LogLevel;

    if (defined $config) {    # a fresh nginx for every block
        $PrevConfig = $config;
        _stop_nginx($name);
        _check_shutdown_error_log();
        _setup_server_root();
        _write_config_file($block, $config);
        bail_out("$name - Cannot find the nginx executable in the PATH environment")
            unless $NginxBinary =~ m{/} ? -x $NginxBinary
                 : grep { -f "$_/$NginxBinary" && -x _ } split /:/, $ENV{PATH} // '';
        $ErrLogFilePos = 0;
        return _run_must_die($block) if defined $block->must_die;
        _start_nginx($name);
        Time::HiRes::sleep($Sleep);
    } elsif (!defined $PrevConfig) {
        bail_out("$name - No '--- config' section specified and could not get "
                 . "previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
    } elsif ($UseValgrind) {    # stopped at the end of the previous block
        _start_nginx($name);
        Time::HiRes::sleep($Sleep);
    }
    # Without --- config, the previous block's nginx keeps serving (as in
    # the real module).

    if (defined $block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }
    $ErrLogFilePos = 0;
    _run_requests($block, $_) for 0 .. $RepeatEach - 1;
}

sub _start_nginx {
    my $name = shift;
    my ($state, $status, $cmd);
    for my $try (1 .. 5) {    # a few retries, the real module retries too
        ($state, $status, $cmd) = _spawn_nginx();
        last if $state ne 'exited';
        Time::HiRes::sleep(0.1 * $try);
    }
    if ($state eq 'exited') {
        my @log = @{ _error_log_data() };
        warn @log[($#log > 19 ? $#log - 19 : 0) .. $#log];
        bail_out("$name - Cannot start nginx using command \"$cmd\" (status code $status).");
    }
    warn "$name - nginx has not written $PidFile after 10 s; going on\n"
        if $state eq 'timeout';
}

# --- must_die: nginx must fail to start; then error.log is checked.
sub _run_must_die {
    my $block = shift;
    my ($name, $must_die) = ($block->name, $block->must_die);
    for my $i (0 .. $RepeatEach - 1) {
        my ($state, $status) = _spawn_nginx();
        if ($status == -1) {    # e.g. SIGCHLD ignored: like system() in the real one
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($state eq 'exited' && ($status & 128)) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (Scalar::Util::looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        _check_error_log($block, $i);
        next if $state eq 'exited';
        warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
        _stop_nginx($name);
    }
}

# One repetition: send the block's requests in turn and check each response.
sub _run_requests {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $reqs = _requests_from_block($block);
    bail_out("$name - request empty") unless @$reqs;
    my $timeout = (_parse_time(scalar $block->timeout) // $Timeout) * $Scale;
    my $pipelined = $block->pipelined_requests;
    my $n = $pipelined ? scalar @$pipelined : 0;    # responses still to parse
    my $need_array = $pipelined ? 1 : @$reqs > 1;
    my $req_idx = 0;

    for my $req (@$reqs) {
        my ($raw_resp, $head_req) = _send_request($req, $block, $timeout);
        while (1) {
            my ($res, $raw_headers, $left);
            ($res, $raw_headers, $left) = _parse_response($name, $raw_resp // '', $head_req)
                unless defined $block->ignore_response;
            if ($n) {
                ($raw_resp, $n) = ($left, $n - 1);
            } elsif (defined $left && length $left) {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in "
                     . "response: \"$left\"\n";
            }
            unless (defined $block->ignore_response) {
                _check_error_code($block, $res, $req_idx, $need_array);
                _check_response_headers($block, $res, $raw_headers // '', $req_idx, $need_array);
                _check_response_body($block, $res, $req_idx, $repeated_req_idx, $need_array);
            }
            if ($n || $req_idx < $#$reqs) {
                Time::HiRes::sleep($block->wait) if $block->wait;
                _check_error_log($block, $repeated_req_idx);
            }
            $req_idx++;
            last unless $n;
        }
    }
    Time::HiRes::sleep($block->wait) if $block->wait;
    _check_error_log($block, $repeated_req_idx);
}

# ==== Requests ==========================================================
sub _parse_more_headers {    # -> ("Key: value\r\n"..., is_chunked)
    my ($out, $is_chunked) = ('', undef);
    for my $header (split /\n+/, shift) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# "METHOD [URL [VERSION]]\nbody" -> full request with Host, Connection,
# more_headers and (for a non-empty body) Content-Length.
sub _build_request {
    my ($name, $more_headers, $is_chunked, $conn, $raw) = @_;
    my ($first, $content) = split /(?<=\n)/, $raw // '', 2;
    bail_out("$name - Request line should be non-empty") unless $first;
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $content //= '';
    my $len = '';
    if (!$is_chunked && $content ne '' && $more_headers !~ /(?:^|\n)Content-Length:/) {
        $content =~ s/^\s+|\s+$//gs;
        $len = "Content-Length: " . length($content) . "\r\n";
    }
    $more_headers =~ s/(?<!\r)\n/\r\n/gs;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/msi;
    return "$meth $url $ver\r\n$headers$more_headers$len\r\n$content";
}

# -> [ raw request bytes, ... ]  (pipelined requests: one item for all)
sub _requests_from_block {
    my $block = shift;
    my $name = $block->name;
    my $more = $block->more_headers // '';
    my $build = sub {
        my ($i, $conn, $req) = @_;
        my $h = ref $more eq 'ARRAY' ? $more->[$i] : $more;
        bail_out("--- more_headers lacks data for the ${i}th request") unless defined $h;
        return _build_request($name, _parse_more_headers($h), $conn, $req);
    };

    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests") unless ref $reqs eq 'ARRAY';
        return [join '', map { $build->($_, $_ == $#$reqs ? 'close' : 'keep-alive',
                                        _expand_env($reqs->[$_], $name)) } 0 .. $#$reqs];
    }
    my $request = $block->request;
    if (!ref $request) {
        1 while defined $request && $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        return [$build->(0, 'close', $request)];
    }
    bail_out("$name - invalid ---request : MUST be string or array of requests")
        unless ref $request eq 'ARRAY';
    bail_out("$name - requests as arrays of packets are not supported by t/compat")
        if grep { ref } @$request;
    return [map { $build->($_, 'close', $request->[$_]) } 0 .. $#$request];
}

# Write the request and read until the server closes the connection;
# $timeout bounds every wait.  -> (raw response, is HEAD request)
sub _send_request {
    my ($req, $block, $timeout) = @_;
    my $name = $block->name;
    my $addr = "$ServerAddr:$ServerPort";
    local $SIG{PIPE} = 'IGNORE';

    my ($sock, $err);
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp', Timeout => $timeout)
            and last;
        $err = $!;
        if (defined $NginxPid && waitpid($NginxPid, POSIX::WNOHANG()) == $NginxPid) {
            undef $NginxPid;
            warn "WARNING: $name - nginx is already gone.\n";
            last;
        }
        Time::HiRes::sleep(min(1, $Sleep * (1 + $try) * $try / 2));
    }
    if (!$sock) {
        _no_ending();
        Test::More::fail("$name - Can't connect to $addr: $err (aborted)\n");
        return;
    }
    $sock->blocking(0);

    my ($resp, $off) = ('', 0);
    while (1) {
        my $writing = $off < length $req;
        my ($r, $w) = IO::Select->select(IO::Select->new($sock),
                                         $writing ? IO::Select->new($sock) : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            if (!defined $block->abort) {
                _no_ending();
                Test::More::fail("ERROR: client socket timed out - $name\n");
            }
            last;
        }
        if ($w && @$w) {
            my $bytes = syswrite $sock, $req, length($req) - $off, $off;
            if (defined $bytes) {
                $off += $bytes;
            } elsif ($! != EAGAIN && $! != EINTR) {
                warn "write failed: $!\n";
                $resp = "write failed: $!" unless length $resp;
                last;
            }
        }
        if ($r && @$r) {
            my $bytes = sysread $sock, my $buf, 4096;
            if (!defined $bytes) {
                next if $! == EAGAIN || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!";
                last;
            }
            last if $bytes == 0;
            $resp .= $buf;
        }
    }
    close $sock;
    return ($resp, $req =~ /^\s*HEAD\s+/ ? 1 : 0);
}

# -> (HTTP::Response, raw header text, bytes after this response)
sub _parse_response {
    my ($name, $raw_resp, $head_req) = @_;
    my $raw_headers = $raw_resp =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw_resp);
    my $code = $res->code;
    $res->code(undef) if $code && $code !~ /^\d+$/;
    return ($res, $raw_headers) if $code && ($code eq '304' || $code eq '101');
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;
    my $bad = sub { _no_ending(); Test::More::fail("$name - $_[0]"); return };

    if (defined $enc && $enc eq 'chunked') {
        bail_out("$name - HTTP trailers are not supported by t/compat") if $res->header('Trailer');
        my ($raw, $decoded) = ($res->content // '', '');
        while ($raw !~ /\G 0 [\ \t]* \r\n \r\n /gcsx) {
            if ($raw =~ /\G [\ \t]* ([A-Fa-f0-9]+) [\ \t]* \r\n /gcsx) {
                my ($size, $pos) = (hex $1, pos $raw);
                return $bad->("invalid chunked data received (not enought octets for "
                              . "the data section)") if length($raw) - $pos < $size;
                $decoded .= substr $raw, $pos, $size;
                pos($raw) = $pos + $size;
                return $bad->("invalid chunked data received (expected CRLF).")
                    if $raw !~ /\G\r\n/gcs;
            } elsif ($raw =~ /\G.+/gcs) {
                return $bad->("invalid chunked body received: $&");
            } else {
                return $bad->("no last chunk found - $raw");
            }
        }
        $left = $1 if $raw =~ /\G (.+) /gcsx;
        $res->content($decoded);
    } elsif (defined $len && $len ne '' && $len >= 0) {
        my $raw = $res->content;
        if (length $raw < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $raw, "\n" unless $head_req;
        } elsif (length $raw > $len) {
            $left = substr $raw, $len;
            $res->content(substr $raw, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# ==== Checks: test names and counts as in the real module ===============
sub _check_error_code {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = _indexed_value($name, $block->error_code_like, $req_idx, $need_array);
        Test::More::like($code, qr/$val/sm, "$name - status code ok");
    } else {
        my $val = defined $block->error_code
            ? _indexed_value($name, $block->error_code, $req_idx, $need_array) : 200;
        Test::More::is($code, $val, "$name - status code ok");
    }
}

# "Key: value" lines -> ([key, value], ...); "!Key" -> [key, undef] (must
# be absent).  A repeated key keeps its last value (a hash in the real one).
sub _parse_headers {
    my $spec = shift;
    # the real one reads a reference ({ name => value }) as the header
    # "HASH(0x...)" that must be absent: it would check nothing
    bail_out("response_headers: \"Name: value\" lines, not $spec") if ref $spec;
    my (@order, %val);
    for (split /\n/, $spec) {
        s/^\s+|\s+$//g;
        my ($key, $v) = s/^!\s*// ? ($_, undef) : split /\s*:\s*/, $_, 2;
        $key //= '';
        push @order, $key unless exists $val{$key};
        $val{$key} = $v;
    }
    return map { [$_, $val{$_}] } @order;
}

sub _check_response_headers {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        next unless defined $block->$sec;
        my $pat = _indexed_value($name, $block->$sec, $req_idx, $need_array);
        no strict 'refs';
        &{"Test::More::$kind"}($raw_headers, qr/$pat/s, "$name - raw resp headers $kind");
    }
    if (defined $block->response_headers) {
        for (_parse_headers(_indexed_value($name, $block->response_headers, $req_idx, $need_array))) {
            my ($key, $val) = @$_;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort(?:ForClient)?\b/$ServerPort/g;
            Test::More::is(($res && $res->header($key)) // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        for (_parse_headers(_indexed_value($name, $block->response_headers_like, $req_idx, $need_array))) {
            my ($key, $val) = @$_;
            Test::More::like(($res && $res->header($key)) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub _check_response_body {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }
    if (defined $block->response_body) {
        my $expected = _indexed_value($name, $block->response_body, $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort(?:ForClient)?\b/$ServerPort/g;
            $expected = _expand_env($expected, $name);
        }
        my $what = "(repeated req $repeated_req_idx, req $req_idx)";
        if (ref $expected) {
            Test::More::like($content, $expected, "$name - response_body - like $what");
        } else {
            is_str($content, $expected, "$name - response_body - response is expected $what");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$type";
        my $pat = _indexed_value($name, $block->$sec, $req_idx, $need_array);
        $pat =~ s/\$ServerPort(?:ForClient)?\b/$ServerPort/g;
        (my $summary = $content // '') =~ s/^\s+|\s+$//g;
        $summary =~ s/\n/ /g;
        $summary =~ s/\s{2,}/ /g;
        no strict 'refs';
        &{"Test::More::$type"}($content, qr/$pat/s,
                               "$name - response_body_$type - response is expected ($summary)");
    }
}

# Patterns of --- error_log / --- no_error_log / --- shutdown_error_log: a
# string of lines (each matched literally), a qr//, or an array of those.
sub _patterns {
    my $pats = shift;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats;
    chomp $pats;
    return [split /\n+/, $pats];
}

# Every pattern must match some line: one pass or one fail per pattern.
sub _expect_lines {
    my ($name, $lines, $pats, $suffix) = @_;
    $pats = _patterns($pats);
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next if !defined $pat || !_line_matches($line, $pat);
            Test::More::pass("$name - pattern \"$pat\" matches a line in error.log$suffix");
            undef $pat;
        }
    }
    Test::More::fail("$name - pattern \"$_\" should match a line in error.log$suffix")
        for grep { defined } @$pats;
}

sub _check_error_log {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines = _error_log_data();
    my $suffix = " (req $repeated_req_idx)";
    my %warn_on = map { $_ => 1 } qw(alert crit emerg);

    my $grep_pat = $block->grep_error_log;
    $grep_pat = $grep_pat->[$repeated_req_idx] if ref $grep_pat eq 'ARRAY';
    my $grep_out = _expand_env(scalar $block->grep_error_log_out, $name);
    if (defined $grep_pat xor defined $grep_out) {
        bail_out("$name - No --- grep_error_log" . (defined $grep_pat ? '_out' : '')
                 . " defined but --- grep_error_log" . (defined $grep_pat ? '' : '_out')
                 . " is defined");
    }
    if (defined $grep_pat) {
        $grep_out = $grep_out->[$repeated_req_idx] if ref $grep_out eq 'ARRAY';
        my $matched = '';
        for (@$lines) {
            $matched .= "$&\n" if (ref $grep_pat && /$grep_pat/ || /\Q$grep_pat\E/) && $& !~ /\n/;
        }
        is_str($matched, $grep_out, "$name - grep_error_log_out$suffix");
    }

    for my $sec (qw(error_log no_error_log)) {
        my $pats = $block->$sec // next;
        # naming a level in the patterns silences its warnings below
        for my $lvl (keys %warn_on) {
            delete $warn_on{$lvl}
                if grep { ref($_) ne 'ARRAY' && "$_" =~ /\Q[$lvl\E/ }
                   ref $pats eq 'ARRAY' ? @$pats : $pats;
        }
        if ($sec eq 'error_log') {
            _expect_lines($name, $lines, $pats, $suffix);
            next;
        }

        # --- no_error_log: one fail per matching line, else one pass
        my %found;
        $pats = [grep { defined } @{ _patterns($pats) }];
        for my $i (0 .. $#$lines) {
            for my $pat (grep { _line_matches($lines->[$i], $_) } @$pats) {
                _no_ending() if $found{$pat}++;
                Test::More::fail("$name - pattern \"" . _fmt_str($pat) . "\" should not match "
                    . "any line in error.log but matches line \"" . _fmt_str($lines->[$i])
                    . "\"$suffix\n" . join '', @$lines[$i + 1 .. min($i + 10, $#$lines) - 1]);
            }
        }
        Test::More::pass("$name - pattern \"" . _fmt_str($_) . "\" does not match a line "
                         . "in error.log$suffix") for grep { !$found{$_} } @$pats;
    }

    for my $line (@$lines) {
        warn "WARNING: $name - " . _fmt_str($line) . "\n"
            if grep { index($line, "[$_]") >= 0 } keys %warn_on;
        if ($line =~ /\bAssertion .*?failed\b/ || $SanDir && $line =~ /runtime error:/) {
            _no_ending();
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

# TEST_NGINX_SAN_DIR: UndefinedBehaviorSanitizer's reports ("runtime
# error:" and the stack under it) of the logs about to be removed, to
# TEST_NGINX_SAN_DIR/san.ubsan.PID.N, for util/test-asan.sh to count.
my $SanReports = 0;
sub _save_san_reports {
    return unless $SanDir && $$ == $OwnerPid;
    for my $file ($ErrLogFile, "$LogDir/nginx.stderr") {
        open my $in, '<', $file or next;
        my ($report, @reports);
        while (my $line = <$in>) {
            if ($line =~ /runtime error:/) {
                push @reports, $report = "$0 ($file):\n$line";
            } elsif (defined $report && $line =~ /^\s+#\d+ |^SUMMARY: /) {
                $report .= $line;
                $reports[-1] = $report;
            } else {
                undef $report;
            }
        }
        close $in;
        for (@reports) {
            my $out_file = "$SanDir/san.ubsan.$$." . ++$SanReports;
            open my $out, '>', $out_file or bail_out("cannot write $out_file: $!");
            print $out $_;
            close $out;
        }
    }
}

# --- shutdown_error_log of the previous block, once its nginx has stopped.
sub _check_shutdown_error_log {
    my $block = $PrevBlock // return;
    undef $PrevBlock;
    my $pats = $block->shutdown_error_log // return;
    _expect_lines($block->name, _error_log_data(), $pats, '');
}

# ==== valgrind mode =====================================================
# The end of a block: stop nginx, so that valgrind does its leak check,
# check the block's --- shutdown_error_log, then report its valgrind logs.
sub _valgrind_end_of_block {
    my $block = shift;
    _stop_nginx($block->name);
    $PrevBlock = $block;
    _check_shutdown_error_log();
    _check_valgrind_logs($block);
}

# a frame of the module, or an allocation made from one
my $ModuleFrame = qr/\bngx_(?:http_)?yoti_idv_\w+|\bngx_http_yoti_idv_module\.so\b/;
my $MaxRecords = 10;       # records shown per failing block
my $MaxRecordLines = 40;

# Every valgrind log the block produced -> one test.  Any record with a
# stack is a problem (memcheck errors, definite leaks -- the only kind
# shown --, fatal signals), so are an ERROR SUMMARY other than 0 and a log
# without one.
sub _check_valgrind_logs {
    my $block = shift;
    my $name = $block->name;
    my (@problems, @records, $nlogs);
    for my $file (sort glob "$LogDir/valgrind.*.log") {
        next if $ValgrindLogSeen{$file}++;
        $nlogs++;
        (my $log = $file) =~ s{.*/}{};
        open my $in, '<', $file or do { push @problems, "$log: cannot read it: $!"; next };
        my ($summary, @chunk);
        my $flush = sub {
            push @records, [$log, [@chunk]] if grep { /^\s+(?:at|by) 0x[0-9A-Fa-f]+:/ } @chunk;
            @chunk = ();
        };
        while (my $line = <$in>) {
            chomp $line;
            $line =~ s/^==\d+== ?//;
            $summary = $1 if $line =~ /^ERROR SUMMARY: (\d+) errors?\b/;
            if ($line =~ /^\s*$/) {
                $flush->();
            } else {
                push @chunk, $line;
            }
        }
        $flush->();
        close $in;
        if (!defined $summary) {
            push @problems, "$log: no ERROR SUMMARY: the process did not finish (killed? "
                            . "see \"timeout when waiting\" above)";
        } elsif ($summary) {
            push @problems, "$log: ERROR SUMMARY: $summary errors";
        }
    }
    push @problems, "no valgrind log in $LogDir" unless $nlogs;
    my $ours = grep { grep { /$ModuleFrame/ } @{ $_->[1] } } @records;
    unshift @problems, scalar(@records) . " valgrind record(s), $ours with frames of the module"
        if @records;
    my $ok = Test::More::ok(!@problems && !@records,
                            "$name - valgrind: no memory errors or definite leaks");
    return $ok if $ok;

    my $diag = join '', map { "$_\n" } @problems;
    my $n = 0;
    for my $rec (@records) {
        my ($log, $lines) = @$rec;
        if (++$n > $MaxRecords) {
            $diag .= "... and " . (@records - $MaxRecords) . " more record(s)\n";
            last;
        }
        my $mark = (grep { /$ModuleFrame/ } @$lines) ? 'MODULE' : 'not the module';
        my @show = @$lines;
        splice @show, $MaxRecordLines, @show - $MaxRecordLines, '   ...'
            if @show > $MaxRecordLines;
        $diag .= "--- $log ($mark):\n" . join '', map { "$_\n" } @show;
    }
    Test::More::diag($diag);
    return $ok;
}

1;
