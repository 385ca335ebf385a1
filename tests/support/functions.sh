# Stand-in for the part of OpenWrt's /lib/functions.sh (package/base-files) that a package's
# generated scripts call, for the kernel tests. As there, default_postinst / default_prerm
# find the package by $pkgname (apk's scripts export it) or else by the script's path ($1,
# opkg's), and its file list in /lib/apk/packages/NAME.list where apk left one, else in
# /usr/lib/opkg/info/NAME.list. The package's own part (NAME.postinst-pkg / NAME.prerm-pkg,
# which only opkg leaves; apk's scripts carry it after the call) runs in a subshell, then
# every /etc/init.d script the package installed is enabled and started, or stopped and
# (unless PKG_UPGRADE is 1) disabled.
pkg_info=/usr/lib/opkg/info

pkg_init_scripts() {
	list="$pkg_info/$1.list"
	[ -f "/lib/apk/packages/$1.list" ] && list="/lib/apk/packages/$1.list"
	grep -s '^/etc/init.d/' "$list"
}

add_group_and_user() {
	:
}

default_postinst() {
	name=${pkgname:-$(basename "${1%.*}")}
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
	name=${pkgname:-$(basename "${1%.*}")}
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
