# Stand-in for the part of OpenWrt's /lib/functions.sh (package/base-files) that an .ipk's
# generated postinst and prerm call, for the kernel tests. As there: the package's own part
# (NAME.postinst-pkg / NAME.prerm-pkg) runs in a subshell with the generated script's path as
# $1, then every /etc/init.d script the package installed is enabled and started, or stopped
# and (unless PKG_UPGRADE is 1) disabled.
pkg_info=/usr/lib/opkg/info

pkg_init_scripts() {
	grep -s '^/etc/init.d/' "$pkg_info/$1.list"
}

default_postinst() {
	name=$(basename "${1%.*}")
	ret=0
	if [ -f "$pkg_info/$name.postinst-pkg" ]; then
		(. "$pkg_info/$name.postinst-pkg")
		ret=$?
	fi
	for script in $(pkg_init_scripts "$name"); do
		[ "$PKG_UPGRADE" = "1" ] || "$script" enable
		"$script" start
	done
	return $ret
}

default_prerm() {
	name=$(basename "${1%.*}")
	ret=0
	if [ -f "$pkg_info/$name.prerm-pkg" ]; then
		(. "$pkg_info/$name.prerm-pkg")
		ret=$?
	fi
	for script in $(pkg_init_scripts "$name"); do
		[ "$PKG_UPGRADE" = "1" ] || "$script" disable
		"$script" stop
	done
	return $ret
}
