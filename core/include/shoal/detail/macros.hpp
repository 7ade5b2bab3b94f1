// Preprocessor helpers of SHOAL_ACTOR and SHOAL_REMOTE: a token paste that expands its
// arguments first, for the names of their registration variables.
//
// Lifetimes: macros only; nothing here exists at run time.
#pragma once

#define SHOAL_PP_CAT_(a, b) a##b
#define SHOAL_PP_CAT(a, b) SHOAL_PP_CAT_(a, b)
