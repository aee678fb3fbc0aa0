################################################################################
#
# igloo
#
################################################################################

# Kept equal to Cargo.toml's version (tests/packaging.rs checks it).
IGLOO_VERSION = 0.1.0
IGLOO_SITE = $(call github,FROSTR-ORG,igloo,v$(IGLOO_VERSION))
IGLOO_LICENSE = MIT
IGLOO_LICENSE_FILES = LICENSE

# Only the daemon; the release profile (LTO, stripped) comes from Cargo.toml.
IGLOO_CARGO_BUILD_OPTS = --bin igloo

# A system user with no shell and no home outside its data directory.
define IGLOO_USERS
	igloo -1 igloo -1 * /var/lib/igloo - - igloo FROSTR signing node
endef

define IGLOO_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(IGLOO_PKGDIR)/igloo.service \
		$(TARGET_DIR)/usr/lib/systemd/system/igloo.service
	$(INSTALL) -D -m 0755 $(IGLOO_PKGDIR)/igloo-firstboot \
		$(TARGET_DIR)/usr/libexec/igloo-firstboot
	$(INSTALL) -D -m 0644 $(IGLOO_PKGDIR)/igloo-firstboot.service \
		$(TARGET_DIR)/usr/lib/systemd/system/igloo-firstboot.service
	$(INSTALL) -D -m 0644 $(IGLOO_PKGDIR)/80-igloo.preset \
		$(TARGET_DIR)/usr/lib/systemd/system-preset/80-igloo.preset
endef

$(eval $(cargo-package))
