include $(sort $(wildcard $(BR2_EXTERNAL_IGLOO_PATH)/package/*/*.mk))
