//! The path manager's methods, written once: [`path_manager_api!`] defines
//! them for [`PathManager`](super::PathManager) (blocking) and
//! [`AsyncPathManager`](super::AsyncPathManager) (tokio). Each method is
//! a [`Call`](super::requests::Call) from `requests` handed to the
//! handle's driver; documentation and examples are generated for each.

/// One doc example: `$pre`, the `use` lines, a handle opened with `$new`,
/// the lines, `$post`.
macro_rules! example {
    ($pre:literal, $new:literal, $post:literal; $(use $use:literal;)? $($line:expr),* $(,)?) => {
        concat!("```no_run\n", $pre, $($use,)? "let mut pm = ", $new, ";\n", $($line,)* $post, "```")
    };
}

/// The methods of a path manager handle. `$aw` is `".await"` in examples
/// and `$($await)*` is `.await` in code for the async handle, nothing for
/// the blocking one.
macro_rules! path_manager_api {
    ($handle:ident, $pre:literal, $new:literal, $post:literal, $aw:literal, [$($async:tt)?], [$($await:tt)*]) => {
        impl $handle {
            /// Lists the endpoints (`ip mptcp endpoint show`), by id.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "for ep in pm.endpoints()", $aw, "? {\n",
                "    println!(\"{} id {} {}\", ep.addr, ep.id, ep.flags);\n",
                "}\n",
            )]
            pub $($async)? fn endpoints(&mut self) -> $crate::pm::error::Result<Vec<$crate::pm::types::Endpoint>> {
                self.call($crate::pm::requests::endpoints()) $($await)*
            }

            /// The endpoint with id `id` (`ip mptcp endpoint show id ID`).
            ///
            /// # Errors
            ///
            /// [`Error::NoSuchEndpoint`](crate::pm::Error::NoSuchEndpoint) when there is none;
            /// [`Error::InvalidArgument`](crate::pm::Error::InvalidArgument) for id 0, before sending.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "let ep = pm.endpoint(1)", $aw, "?;\n",
                "println!(\"endpoint 1: {} {}\", ep.addr, ep.flags);\n",
            )]
            pub $($async)? fn endpoint(&mut self, id: u8) -> $crate::pm::error::Result<$crate::pm::types::Endpoint> {
                self.call($crate::pm::requests::endpoint(id)) $($await)*
            }

            /// Adds an endpoint (`ip mptcp endpoint add`).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidArgument`](crate::pm::Error::InvalidArgument) for combinations the kernel refuses (a
            /// port without `signal`, `signal` with `fullmesh`, ...), checked
            /// before sending; [`Error::Kernel`](crate::pm::Error::Kernel) otherwise (`EEXIST` for a duplicate).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use mptcp::pm::{Endpoint, EndpointFlags};\n";
                "let ep = Endpoint::new(\"10.0.2.1\".parse().unwrap()).with_flags(EndpointFlags::SUBFLOW);\n",
                "pm.add_endpoint(&ep)", $aw, "?;\n",
            )]
            pub $($async)? fn add_endpoint(&mut self, ep: &$crate::pm::types::Endpoint) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::add_endpoint(ep)) $($await)*
            }

            /// Deletes an endpoint by id or address (`ip mptcp endpoint delete`);
            /// by address, the endpoints are listed first to find its id.
            ///
            /// # Errors
            ///
            /// [`Error::NoSuchEndpoint`](crate::pm::Error::NoSuchEndpoint) when no endpoint matches.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use std::net::IpAddr;\n";
                "pm.delete_endpoint(2.into())", $aw, "?; // by id\n",
                "pm.delete_endpoint(IpAddr::from([10, 0, 2, 1]).into())", $aw, "?; // by address\n",
            )]
            pub $($async)? fn delete_endpoint(&mut self, target: $crate::pm::endpoint_ref::EndpointRef) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::delete_endpoint(target)) $($await)*
            }

            /// Closes the initial subflow of every connection that started from
            /// `addr` (`ip mptcp endpoint delete id 0 ADDR`): where no endpoint
            /// owned that address when a connection opened, deleting endpoints
            /// leaves its first subflow alone. The kernel removes the subflows,
            /// announces the removal (RM_ADDR id 0) and reinjects their data on
            /// the other subflows. It answers success also when nothing matched.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use std::net::IpAddr;\n";
                "pm.close_initial_subflows(IpAddr::from([10, 0, 1, 1]))", $aw, "?; // path 1 went down\n",
            )]
            pub $($async)? fn close_initial_subflows(&mut self, addr: std::net::IpAddr) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::close_initial_subflows(addr)) $($await)*
            }

            /// Deletes every endpoint (`ip mptcp endpoint flush`).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "pm.flush_endpoints()", $aw, "?;\n",
                "assert!(pm.endpoints()", $aw, "?.is_empty());\n",
            )]
            pub $($async)? fn flush_endpoints(&mut self) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::flush_endpoints()) $($await)*
            }

            /// Sets the `backup` and `fullmesh` flags of an endpoint (`ip mptcp
            /// endpoint change`). The kernel replaces both: a flag not in `flags`
            /// is cleared. Existing subflows from that address follow.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use mptcp::pm::EndpointFlags;\n";
                "pm.set_endpoint_flags(2.into(), EndpointFlags::BACKUP)", $aw, "?;\n",
            )]
            pub $($async)? fn set_endpoint_flags(&mut self, target: $crate::pm::endpoint_ref::EndpointRef, flags: $crate::pm::types::EndpointFlags) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::set_endpoint_flags(target, flags)) $($await)*
            }

            /// Marks one subflow of connection `token` as backup or not (userspace
            /// path manager; sends MP_PRIO).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "let (local, remote) = (\"10.0.2.1:40000\".parse().unwrap(), \"10.0.1.2:80\".parse().unwrap());\n",
                "pm.set_subflow_backup(0x1234, local, remote, true)", $aw, "?;\n",
            )]
            pub $($async)? fn set_subflow_backup(
                &mut self,
                token: u32,
                local: ::std::net::SocketAddr,
                remote: ::std::net::SocketAddr,
                backup: bool,
            ) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::set_subflow_backup(token, local, remote, backup)) $($await)*
            }

            /// The limits (`ip mptcp limits show`).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "let l = pm.limits()", $aw, "?;\n",
                "println!(\"subflows {} add_addr_accepted {}\", l.subflows, l.add_addr_accepted);\n",
            )]
            pub $($async)? fn limits(&mut self) -> $crate::pm::error::Result<$crate::pm::types::Limits> {
                self.call($crate::pm::requests::limits()) $($await)*
            }

            /// Sets one or both limits (`ip mptcp limits set`); `None` keeps the
            /// current value. Values above [`MAX_LIMIT`](crate::pm::MAX_LIMIT) are refused before sending.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "pm.set_limits(Some(2), Some(2))", $aw, "?;\n",
                "pm.set_limits(Some(4), None)", $aw, "?; // add_addr_accepted unchanged\n",
            )]
            pub $($async)? fn set_limits(&mut self, subflows: Option<u32>, add_addr_accepted: Option<u32>) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::set_limits(subflows, add_addr_accepted)) $($await)*
            }

            /// Userspace PM: announces `ep` (id 1-255) to the peer of connection
            /// `token` (ADD_ADDR).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use mptcp::pm::Endpoint;\n";
                "pm.announce(0x1234, &Endpoint::new(\"10.0.2.1\".parse().unwrap()).with_id(5))", $aw, "?;\n",
            )]
            pub $($async)? fn announce(&mut self, token: u32, ep: &$crate::pm::types::Endpoint) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::announce(token, ep)) $($await)*
            }

            /// Userspace PM: withdraws address `id` from connection `token` (RM_ADDR).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "pm.remove(0x1234, 5)", $aw, "?;\n",
            )]
            pub $($async)? fn remove(&mut self, token: u32, id: u8) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::remove(token, id)) $($await)*
            }

            /// Userspace PM: opens a subflow of connection `token` from `local` to
            /// `remote`.
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                use "use mptcp::pm::LocalAddr;\n";
                "let local = LocalAddr::new(\"10.0.2.1\".parse().unwrap()).with_id(5);\n",
                "pm.create_subflow(0x1234, local, \"10.0.1.2:80\".parse().unwrap())", $aw, "?;\n",
            )]
            pub $($async)? fn create_subflow(&mut self, token: u32, local: $crate::pm::types::LocalAddr, remote: ::std::net::SocketAddr) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::create_subflow(token, local, remote)) $($await)*
            }

            /// Userspace PM: closes the subflow of connection `token` between
            /// `local` and `remote` (both with their ports).
            ///
            /// # Examples
            ///
            #[doc = $crate::pm::api::example!($pre, $new, $post;
                "let (local, remote) = (\"10.0.2.1:40000\".parse().unwrap(), \"10.0.1.2:80\".parse().unwrap());\n",
                "pm.destroy_subflow(0x1234, local, remote)", $aw, "?;\n",
            )]
            pub $($async)? fn destroy_subflow(&mut self, token: u32, local: ::std::net::SocketAddr, remote: ::std::net::SocketAddr) -> $crate::pm::error::Result<()> {
                self.call($crate::pm::requests::destroy_subflow(token, local, remote)) $($await)*
            }
        }
    };
}

pub(crate) use {example, path_manager_api};
