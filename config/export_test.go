package config

// AlertmanagerResendInterval lets the external tests compare the default
// the notify check assumes with the sink's own.
const AlertmanagerResendInterval = alertmanagerResendInterval
