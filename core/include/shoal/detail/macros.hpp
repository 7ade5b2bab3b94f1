#pragma once

#define SHOAL_PP_CAT_(a, b) a##b
#define SHOAL_PP_CAT(a, b) SHOAL_PP_CAT_(a, b)
