//! Building the lab (see [`super`]): the user and its keys, each host (a
//! network namespace behind a veth pair, its host name and /etc/hosts, its
//! sshd), the client's ssh config and the project.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Lab, PREFIX, TestResult, bin, run, sh};

/// The folder whose files `ip netns exec NS` bind-mounts over /etc's
/// (ip-netns(8)).
pub(super) fn netns_etc(ns: &str) -> PathBuf {
    Path::new("/etc/netns").join(ns)
}

/// Gives namespace `ns` its own /etc/hosts, naming `hostname`. Without it,
/// a host name that no file names is asked of DNS, whose server the
/// namespace cannot reach, and every lookup waits for the resolver's
/// timeouts: git looks its host name up for a default identity (the
/// reflog entry of `git checkout -b`, a worktree's), measured at 10.0 s per
/// call in such a namespace, 0.02 s with this file.
fn write_hosts_file(ns: &str, hostname: &str) -> TestResult {
    let etc = netns_etc(ns);
    std::fs::create_dir_all(&etc)?;
    std::fs::write(
        etc.join("hosts"),
        format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost\n"),
    )?;
    Ok(())
}

/// One host: its namespace, addresses and veth names.
pub struct Host {
    pub name: String,
    /// Its own host name (`h<n>-<test pid>`), which every process started
    /// over its ssh reads, so that nothing on it passes for this machine's.
    pub hostname: String,
    pub ns: String,
    /// The address its sshd listens on.
    pub addr: String,
    /// The veth end inside its namespace (where a cut is made).
    pub veth_in: String,
    pub dir: PathBuf,
}

impl Host {
    /// Its tmux server's socket (the login's INTERCOMM_TMUX_SOCKET).
    pub fn tmux_socket(&self) -> PathBuf {
        self.dir.join("tmux.sock")
    }
}

impl Lab {
    /// The lab's throwaway user (see [`super`]), its uid and gid.
    pub(super) fn make_user(&mut self) -> TestResult {
        std::fs::create_dir_all(self.home.join(".ssh"))?;
        sh(
            "useradd",
            &[
                "-M",
                "-d",
                &self.home.display().to_string(),
                "-s",
                "/bin/sh",
                &self.user,
            ],
        )?;
        self.user_made = true;
        // sshd without PAM refuses a locked account ('!'); '*' allows keys only.
        sh("usermod", &["-p", "*", &self.user])?;
        self.uid = sh("id", &["-u", &self.user])?.trim().parse()?;
        self.gid = sh("id", &["-g", &self.user])?.trim().parse()?;
        std::fs::create_dir_all(&self.logs)?;
        Ok(())
    }

    /// The client's ed25519 key, authorized for the user on every host.
    pub(super) fn make_keys(&self) -> TestResult {
        let client = self.dir.join("client");
        std::fs::create_dir_all(&client)?;
        let key = client.join("id_ed25519");
        ed25519_key(&key, "intercomm-lab")?;
        std::fs::copy(
            client.join("id_ed25519.pub"),
            self.home.join(".ssh").join("authorized_keys"),
        )?;
        Ok(())
    }

    /// The lab's /24 (`172.30.<pid % 250>`), as a prefix.
    pub(super) fn subnet(&self) -> String {
        format!("172.30.{}", std::process::id() % 250)
    }

    /// Host `i` (from 1): namespace, veth pair, host name, sshd started.
    pub(super) fn make_host(&mut self, i: usize) -> TestResult {
        let pid = std::process::id();
        let name = format!("h{i}");
        let ns = format!("{PREFIX}-{pid}-{i}");
        let out = format!("ih{pid}a{i}");
        let inside = format!("ih{pid}b{i}");
        let here = format!("{}.{}", self.subnet(), 4 * i + 1);
        let addr = format!("{}.{}", self.subnet(), 4 * i + 2);
        let hostname = format!("{name}-{pid}");
        let dir = self.dir.join(&name);
        // `<dir>/bin` comes first on the login's PATH: empty, unless a test
        // puts another `intercomm` there (see [`Lab::fake_agent`]).
        std::fs::create_dir_all(dir.join("bin"))?;
        sh("ip", &["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        write_hosts_file(&ns, &hostname)?;
        sh(
            "ip",
            &["link", "add", &out, "type", "veth", "peer", "name", &inside],
        )?;
        sh("ip", &["link", "set", &inside, "netns", &ns])?;
        sh("ip", &["addr", "add", &format!("{here}/30"), "dev", &out])?;
        sh("ip", &["link", "set", &out, "up"])?;
        let in_ns = |args: &[&str]| -> Result<String, String> {
            run(Command::new("ip").args(["netns", "exec", &ns]).args(args))
        };
        in_ns(&["ip", "addr", "add", &format!("{addr}/30"), "dev", &inside])?;
        in_ns(&["ip", "link", "set", &inside, "up"])?;
        in_ns(&["ip", "link", "set", "lo", "up"])?;
        // Everything else goes to the test's namespace, so every host
        // reaches every address there (a bus server on one of them).
        in_ns(&["ip", "route", "add", "default", "via", &here])?;
        let key = dir.join("ssh_host_ed25519_key");
        ed25519_key(&key, &name)?;
        let bin_dir = bin().parent().map(Path::to_path_buf).unwrap_or_default();
        let config = format!(
            "ListenAddress {addr}:22\n\
             HostKey {key}\n\
             PidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {home}/.ssh/authorized_keys\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             AllowUsers {user}\n\
             SetEnv INTERCOMM_TMUX_SOCKET={dir}/tmux.sock PATH={dir}/bin:{bin}:/usr/bin:/bin INTERCOMM_LOG=debug\n\
             LogLevel ERROR\n",
            key = key.display(),
            dir = dir.display(),
            home = self.home.display(),
            user = self.user,
            bin = bin_dir.display(),
        );
        let config_path = dir.join("sshd_config");
        std::fs::write(&config_path, config)?;
        std::fs::create_dir_all("/run/sshd")?;
        // In a UTS namespace of its own named `hostname`, which everything
        // started over ssh inherits. -D keeps it in the foreground of its
        // namespace; it is killed with the namespace's processes.
        Command::new("ip")
            .args(["netns", "exec", &ns, "unshare", "--uts", "/bin/sh", "-c"])
            .arg(r#"hostname "$0" && exec /usr/sbin/sshd -D -f "$1" -E "$2""#)
            .arg(&hostname)
            .arg(&config_path)
            .arg(dir.join("sshd.log"))
            .stdin(std::process::Stdio::null())
            .spawn()?;
        self.hosts.push(Host {
            name,
            hostname,
            ns,
            addr,
            veth_in: inside,
            dir,
        });
        Ok(())
    }

    /// known_hosts with every host's key, and the ssh config naming it.
    pub(super) fn write_client_config(&self) -> TestResult {
        let client = self.dir.join("client");
        let mut known = String::new();
        for h in &self.hosts {
            let public = std::fs::read_to_string(h.dir.join("ssh_host_ed25519_key.pub"))?;
            let fields: Vec<&str> = public.split_whitespace().take(2).collect();
            known.push_str(&format!("{} {}\n", h.addr, fields.join(" ")));
        }
        std::fs::write(client.join("known_hosts"), known)?;
        std::fs::write(
            client.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {c}/id_ed25519\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {c}/known_hosts\n  StrictHostKeyChecking yes\n  \
                 GlobalKnownHostsFile /dev/null\n",
                c = client.display()
            ),
        )?;
        Ok(())
    }

    /// The project: a git repository with one commit on `main`.
    pub(super) fn make_project(&self) -> TestResult {
        std::fs::create_dir_all(&self.project)?;
        let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&self.project).args(args));
        git(&["init", "-q", "-b", "main"])?;
        std::fs::write(self.project.join("README.md"), "lab project\n")?;
        git(&["add", "README.md"])?;
        git(&[
            "-c",
            "user.name=lab",
            "-c",
            "user.email=lab@example.invalid",
            "commit",
            "-q",
            "-m",
            "first",
        ])?;
        Ok(())
    }

    /// Waits until every host's sshd answers a login (at most 20 s).
    pub fn wait_for_sshd(&self) -> TestResult {
        for h in &self.hosts {
            let started = Instant::now();
            loop {
                let probe = self.ssh_command(h, &["true"]).output()?;
                if probe.status.success() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(20) {
                    let log = std::fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default();
                    return Err(format!(
                        "sshd of {} never answered: {} / sshd log: {log}",
                        h.name,
                        String::from_utf8_lossy(&probe.stderr)
                    )
                    .into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// `ssh` to host `h` as the lab's user running `remote` there.
    pub(super) fn ssh_command(&self, h: &Host, remote: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        self.as_user(&mut cmd)
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=2"])
            .arg(format!("{}@{}", self.user, h.addr))
            .args(remote);
        cmd
    }
}

/// A new ed25519 key pair at `key` (and `key`.pub), without a passphrase,
/// commented `comment`.
fn ed25519_key(key: &Path, comment: &str) -> TestResult {
    sh(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            comment,
            "-f",
            &key.display().to_string(),
        ],
    )?;
    Ok(())
}
