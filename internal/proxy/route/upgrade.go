package route

// UpgradeSetting is a route's upgrade_configs entry for an upgrade type:
// absent (the HCM's upgrade_configs decide), enabled or disabled.
type UpgradeSetting int8

const (
	UpgradeUnset UpgradeSetting = iota
	UpgradeOn
	UpgradeOff
)
